// The review page's production panel: for each monitor following Production, the latest window's
// drift verdict, drifted columns and performance vs baseline, from the monitoring REST resources.
"use strict";
(function () {
  const box = document.getElementById("prod-monitoring");
  if (!box) return;
  const model = box.dataset.model;
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function fmt(v) { return num(v) === null ? "–" : v.toFixed(3); }
  async function get(path) {
    const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    return resp.json();
  }
  async function row(m, open) {
    const to = Date.now(), from = to - 2 * 86400000;
    const range = "?from=" + from + "&to=" + to;
    const [drift, perf] = await Promise.all([
      get("/api/v1/monitors/" + m.id + "/drift" + range + "&view=cells").catch(() => ({ windows: [] })),
      get("/api/v1/monitors/" + m.id + "/performance" + range).catch(() => ({ windows: [] })),
    ]);
    const ws = (drift.windows || drift.items || []).slice().sort((a, b) => a.window_start - b.window_start);
    const last = ws[ws.length - 1];
    const ps = (perf.windows || perf.items || []).filter(p => num(p.value) !== null);
    const lp = ps[ps.length - 1];
    const drifted = last ? Object.entries(last.columns || {}).filter(([, c]) => c.status === "alert").map(([k]) => k) : [];
    const tr = el("tr");
    tr.dataset.monitorId = String(m.id);
    const a = el("a", null, m.name);
    a.href = "/monitors/" + m.id;
    const td = el("td");
    td.appendChild(a);
    tr.appendChild(td);
    const status = last && last.dataset ? last.dataset.status : "none";
    [last ? new Date(last.window_start).toISOString().slice(0, 16).replace("T", " ") + (last.partial ? " (partial)" : "") : "no data",
      status, drifted.join(", ") || "none",
      lp ? (perf.metric || "") + " " + fmt(lp.value) : "no labels", lp ? fmt(num(lp.baseline) ?? num(perf.baseline)) : "–",
      String(open.filter(x => x.monitor_id === m.id).length)].forEach((v, i) => {
      const c = el("td", i === 1 ? "badge st-" + v : null, v);
      if (i === 1) c.dataset.status = v;
      tr.appendChild(c);
    });
    return tr;
  }
  async function main() {
    const q = encodeURIComponent(model);
    const mons = await get("/api/v1/monitors?model=" + q);
    const prod = (mons.items || []).filter(m => (m.stage || "").toLowerCase() === "production");
    if (!prod.length) return;
    const alerts = await get("/api/v1/alerts?status=open&model=" + q).catch(() => ({ items: [] }));
    const rows = await Promise.all(prod.map(m => row(m, alerts.items || [])));
    const body = box.querySelector("tbody");
    rows.forEach(r => body.appendChild(r));
    box.hidden = false;
  }
  main().catch(() => { box.hidden = true; });
})();
