// The monitor page: reads the monitoring REST resources with the session cookie and draws the drift
// heatmap (windows x columns), reference-vs-window histograms for a clicked cell, PSI trends with the
// warn/alert lines, the performance trend with baseline and confidence band, live-version markers,
// and the alert list (acknowledge/resolve with the page's CSRF token). textContent only; no inline
// script or style (element.style set from this script is CSSOM, which the CSP allows).
"use strict";
(function () {
  const root = document.getElementById("monitor");
  if (!root) return;
  const id = root.dataset.monitorId;
  const days = Number(root.dataset.days || 7);
  const API = "/api/v1";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function fmt(v, d) { return num(v) === null ? "–" : Number(v).toFixed(d === undefined ? 3 : d); }
  function when(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC" : ""; }
  function items(body, key) { return (body && (body[key] || body.items || body.windows)) || []; }

  async function get(path) {
    const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) {
      const msg = body && body.error ? body.error.message : "HTTP " + resp.status;
      throw new Error(msg);
    }
    return body;
  }
  async function post(path, payload) {
    const resp = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(payload),
    });
    const body = await resp.json().catch(() => null);
    if (!resp.ok) throw new Error(body && body.error ? body.error.message : "HTTP " + resp.status);
    return body;
  }
  function showError(e) {
    const p = document.getElementById("monitor-error");
    p.hidden = false;
    p.textContent = String(e && e.message ? e.message : e);
  }

  // ------------------------------------------------------------------ thresholds

  function psiLines(monitor) {
    const t = (monitor && monitor.thresholds) || {};
    const psi = t.psi || {};
    return { warn: num(t.psi_warn) ?? num(psi.warn) ?? 0.1, alert: num(t.psi_alert) ?? num(psi.alert) ?? 0.2 };
  }

  // ------------------------------------------------------------------ heatmap

  // Columns the model relies on most come first (importances of the live version's explanation,
  // or the monitor's own setting); columns without an importance follow, by name.
  function columnsOf(windows, importances) {
    const names = new Set();
    windows.forEach(w => Object.keys(w.columns || {}).forEach(c => names.add(c)));
    const imp = importances || {};
    const weight = c => (typeof imp[c] === "number" ? Math.abs(imp[c]) : -1);
    return Array.from(names).sort((a, b) => (weight(b) - weight(a)) || (a < b ? -1 : a > b ? 1 : 0));
  }

  function versionChanges(windows) {
    const out = [];
    let prev;
    windows.forEach((w, i) => {
      const v = w.model_version;
      if (i > 0 && v !== undefined && v !== prev) out.push({ window_start: w.window_start, from: prev, to: v });
      prev = v;
    });
    return out;
  }

  function drawHeatmap(windows, cols, onPick) {
    const box = document.getElementById("heatmap");
    box.textContent = "";
    if (!windows.length) { box.appendChild(el("p", "muted", "No windows in this range yet.")); return; }
    box.style.gridTemplateColumns = "minmax(6rem, 12rem) repeat(" + windows.length + ", minmax(10px, 1fr))";
    const changed = new Set(versionChanges(windows).map(c => c.window_start));
    box.appendChild(el("span", "hm-label muted", "version"));
    windows.forEach(w => {
      const m = el("span", "hm-version" + (changed.has(w.window_start) ? " changed" : ""));
      m.title = changed.has(w.window_start) ? "live version changed to v" + w.model_version : "";
      box.appendChild(m);
    });
    cols.forEach(c => {
      box.appendChild(el("span", "hm-label", c));
      windows.forEach(w => {
        const d = (w.columns || {})[c];
        const status = d && d.status ? d.status : "none";
        const cell = el("button", "hm-cell st-" + (["ok", "warn", "alert"].includes(status) ? status : "none") +
          (w.partial ? " st-partial" : ""));
        cell.type = "button";
        cell.dataset.column = c;
        cell.dataset.window = String(w.window_start);
        cell.dataset.status = status;
        cell.title = c + " · " + when(w.window_start) + " · " + status +
          (d ? " · PSI " + fmt(d.psi) + " · n " + (d.n ?? w.n ?? "") : "") + (w.partial ? " · partial" : "");
        cell.addEventListener("click", () => {
          box.querySelectorAll(".selected").forEach(x => x.classList.remove("selected"));
          cell.classList.add("selected");
          onPick(w, c, d);
        });
        box.appendChild(cell);
      });
    });
    box.appendChild(el("span", "hm-label muted", "dataset"));
    windows.forEach(w => {
      const s = (w.dataset && w.dataset.status) || "none";
      const cell = el("span", "hm-cell st-" + (["ok", "warn", "alert"].includes(s) ? s : "none"));
      cell.dataset.dataset = s;
      cell.title = "dataset · " + when(w.window_start) + " · " + s;
      box.appendChild(cell);
    });
  }

  // ------------------------------------------------------------------ charts

  function width(box) { return Math.max(320, Math.min((box.parentElement || box).clientWidth - 16, 1000)); }

  function markerPlugin(times) {
    return {
      hooks: {
        draw: [u => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#7c3aed";
          ctx.setLineDash([4, 3]);
          times.forEach(t => {
            const x = Math.round(u.valToPos(t, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          });
          ctx.restore();
        }],
      },
    };
  }

  function drawPsi(windows, cols, lines, markers) {
    const box = document.getElementById("psi-chart");
    box.textContent = "";
    if (!windows.length || typeof uPlot === "undefined") return;
    const xs = windows.map(w => w.window_start / 1000);
    const data = [xs];
    const series = [{}];
    cols.forEach((c, i) => {
      data.push(windows.map(w => num(((w.columns || {})[c] || {}).psi)));
      series.push({ label: c, stroke: PALETTE[i % PALETTE.length], width: 1.25, spanGaps: false });
    });
    data.push(xs.map(() => lines.warn));
    series.push({ label: "warn " + lines.warn, stroke: "#d97706", dash: [6, 4], width: 1, points: { show: false } });
    data.push(xs.map(() => lines.alert));
    series.push({ label: "alert " + lines.alert, stroke: "#dc2626", dash: [6, 4], width: 1, points: { show: false } });
    new uPlot({ width: width(box), height: 260, series, legend: { show: cols.length <= 12 },
      plugins: [markerPlugin(markers)], scales: { x: { time: true } } }, data, box);
    box.dataset.series = String(cols.length);
  }

  function drawPerformance(perf, markers) {
    const box = document.getElementById("perf-chart");
    const note = document.getElementById("perf-note");
    box.textContent = "";
    const rows = items(perf, "windows").filter(w => num(w.value) !== null);
    if (!rows.length) { note.textContent = "No labelled windows yet."; return; }
    const metric = perf.metric || (rows[0] && rows[0].metric) || "metric";
    const baseline = num(perf.baseline) ?? num(rows[rows.length - 1].baseline);
    note.textContent = metric + (baseline !== null ? " · baseline " + fmt(baseline) : "") +
      " · band: the window's one-sided 95% confidence bound";
    if (typeof uPlot === "undefined") return;
    const xs = rows.map(w => w.window_start / 1000);
    const value = rows.map(w => num(w.value));
    const bound = rows.map(w => num(w.bound) ?? num(w.upper) ?? num(w.lower));
    const base = rows.map(w => num(w.baseline) ?? baseline);
    const series = [{}, { label: metric, stroke: "#1f77b4", width: 1.5 },
      { label: "confidence bound", stroke: "#93c5fd", width: 1 },
      { label: "baseline", stroke: "#111827", dash: [6, 4], width: 1, points: { show: false } }];
    new uPlot({ width: width(box), height: 240, series, plugins: [markerPlugin(markers)],
      bands: [{ series: [2, 1], fill: "rgba(147,197,253,.35)" }], scales: { x: { time: true } } },
      [xs, value, bound, base], box);
    box.dataset.points = String(rows.length);
  }

  async function drawHistogram(w, column, d) {
    const sec = document.getElementById("histogram");
    sec.hidden = false;
    document.getElementById("histogram-title").textContent = column + " · window " + when(w.window_start);
    // the heatmap holds status, PSI and n per cell; the other statistics come with the histogram
    const stats = s => s
      ? "PSI " + fmt(s.psi) + " · JS " + fmt(s.js) + " · KS " + fmt(s.ks) + " · Wasserstein " + fmt(s.wasserstein) +
        " · n " + (s.n ?? "") + " · " + (s.status || "")
      : "No data for this column in this window.";
    const statsBox = document.getElementById("histogram-stats");
    statsBox.textContent = stats(d);
    const box = document.getElementById("histogram-chart");
    box.textContent = "";
    let h;
    try {
      h = await get(API + "/monitors/" + id + "/windows/" + w.window_start + "/histogram?column=" + encodeURIComponent(column));
    } catch (e) { box.appendChild(el("p", "error", e.message)); return; }
    if (h.stats) statsBox.textContent = stats(h.stats);
    const labels = h.buckets || h.labels || [];
    const ref = h.reference || [];
    const win = h.window || [];
    const table = el("table", "grid histogram-table");
    const head = el("tr");
    ["bucket", "reference", "window"].forEach(t => head.appendChild(el("th", null, t)));
    table.appendChild(head);
    labels.forEach((b, i) => {
      const tr = el("tr");
      tr.appendChild(el("td", null, b));
      tr.appendChild(el("td", "num", fmt(ref[i], 3)));
      tr.appendChild(el("td", "num", fmt(win[i], 3)));
      table.appendChild(tr);
    });
    if (typeof uPlot !== "undefined" && labels.length) {
      const xs = labels.map((_, i) => i);
      const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 60] }) : undefined;
      new uPlot({
        width: width(box), height: 220, legend: { show: true },
        scales: { x: { time: false } },
        axes: [{ values: (u, ticks) => ticks.map(t => (labels[t] !== undefined ? String(labels[t]) : "")) }, {}],
        series: [{}, { label: "reference", fill: "rgba(31,119,180,.45)", stroke: "#1f77b4", paths: bars, points: { show: false } },
          { label: "window", fill: "rgba(214,39,40,.35)", stroke: "#d62728", paths: bars, points: { show: false } }],
      }, [xs, labels.map((_, i) => num(ref[i]) ?? 0), labels.map((_, i) => num(win[i]) ?? 0)], box);
    }
    box.appendChild(table);
  }

  // ------------------------------------------------------------------ alerts

  function drawAlerts(alerts) {
    const body = document.querySelector("#alerts tbody");
    body.textContent = "";
    const open = alerts.filter(a => a.status !== "resolved");
    if (!open.length) {
      const tr = el("tr");
      const td = el("td", "muted", "No open alerts.");
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    open.forEach(a => {
      const tr = el("tr", "sev-" + (a.severity === "alert" ? "alert" : "warn"));
      tr.dataset.alertId = String(a.id);
      [a.severity, a.rule, a.column || "", a.message, when(a.first_window || a.opened_at), a.status]
        .forEach(v => tr.appendChild(el("td", null, v)));
      const td = el("td");
      const comment = el("input");
      comment.type = "text";
      comment.placeholder = "comment";
      comment.name = "comment";
      td.appendChild(comment);
      [["acknowledge", "Acknowledge"], ["resolve", "Resolve"]].forEach(([action, label]) => {
        if (action === "acknowledge" && a.status === "acknowledged") return;
        const b = el("button", "alert-" + action, label);
        b.type = "button";
        b.addEventListener("click", async () => {
          b.disabled = true;
          try {
            await post(API + "/alerts/" + a.id + "/" + action, { comment: comment.value });
            await loadAlerts();
          } catch (e) { showError(e); b.disabled = false; }
        });
        td.appendChild(b);
      });
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  async function loadAlerts() {
    const body = await get(API + "/alerts?monitor=" + id + "&max_results=200");
    drawAlerts(items(body, "items"));
  }

  // ------------------------------------------------------------------ page

  async function main() {
    const to = Date.now();
    const from = to - days * 86400000;
    const range = "?from=" + from + "&to=" + to;
    const [monitor, drift, perf] = await Promise.all([
      get(API + "/monitors/" + id),
      get(API + "/monitors/" + id + "/drift" + range + "&view=cells"),
      get(API + "/monitors/" + id + "/performance" + range).catch(() => ({ windows: [] })),
    ]);
    document.getElementById("monitor-title").textContent = monitor.name;
    const link = document.getElementById("model-link");
    link.textContent = monitor.model;
    link.href = "/models/" + encodeURIComponent(monitor.model);
    const windows = items(drift, "windows").slice().sort((a, b) => a.window_start - b.window_start);
    const cols = columnsOf(windows, drift.importances);
    const changes = versionChanges(windows);
    const last = windows[windows.length - 1];
    document.getElementById("monitor-summary").textContent =
      "Follows " + (monitor.stage ? "stage " + monitor.stage : "alias " + monitor.alias) + " of " + monitor.model +
      " · windows of " + Math.round((monitor.window_seconds || 3600) / 60) + " min · " + windows.length +
      " windows × " + cols.length + " columns" +
      (drift.importances ? " (sorted by importance, from the " + drift.importances_from + ")" : "") +
      (last ? " · latest verdict: " + ((last.dataset && last.dataset.status) || "none") +
        (last.model_version !== undefined ? " (v" + last.model_version + ")" : "") : "");
    const markers = changes.map(c => c.window_start / 1000);
    drawHeatmap(windows, cols, drawHistogram);
    drawPsi(windows, cols, psiLines(monitor), markers);
    drawPerformance(perf, markers);
    const vlist = document.getElementById("versions");
    vlist.textContent = "";
    if (!changes.length) vlist.appendChild(el("li", "muted", "The live version did not change in this range."));
    changes.forEach(c => vlist.appendChild(el("li", null, when(c.window_start) + ": v" + (c.from ?? "?") + " → v" + c.to)));
    await loadAlerts();
    root.dataset.ready = "1";
  }

  main().catch(e => { showError(e); root.dataset.ready = "error"; });
})();
