// Shared chart helpers: fetch server-side downsampled metric histories and draw uPlot line charts.
// Every string from the server is placed with textContent (uPlot does the same for labels).
"use strict";
(function () {
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];

  const COLUMNAR = "application/vnd.tether.columnar+json";

  function num(v) {
    // Non-finite values travel as strings ("NaN", "Infinity"); uPlot gets null (a gap) for them.
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  async function history(runId, key, maxPoints) {
    const url = (document.body.dataset.root || "") + "/api/v1/runs/" + encodeURIComponent(runId) + "/metrics/" + encodeURIComponent(key) +
      "?max_points=" + maxPoints;
    // The columnar form: parallel steps/values/timestamps arrays (half the bytes, no object per point).
    const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: COLUMNAR } });
    if (!resp.ok) throw new Error("history " + resp.status);
    const body = await resp.json();
    const xs = Float64Array.from(body.steps);
    const ys = body.values.map(num);
    return { xs, ys, total: body.total_points, downsampled: body.downsampled };
  }

  // Runs `tasks` (functions returning promises) with at most `limit` in flight.
  async function pool(tasks, limit) {
    const out = new Array(tasks.length);
    let next = 0;
    async function worker() {
      while (next < tasks.length) {
        const i = next++;
        try { out[i] = await tasks[i](); } catch (e) { out[i] = null; }
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
    return out;
  }

  // Merges series with different x values onto one sorted x axis (nulls where a series has no point).
  function align(seriesList) {
    const steps = new Set();
    seriesList.forEach(s => { if (s) s.xs.forEach(x => steps.add(x)); });
    const xs = Float64Array.from(steps).sort();
    const index = new Map();
    xs.forEach((x, i) => index.set(x, i));
    const data = [xs];
    seriesList.forEach(s => {
      const ys = new Array(xs.length).fill(null);
      if (s) s.xs.forEach((x, i) => { ys[index.get(x)] = s.ys[i]; });
      data.push(ys);
    });
    return data;
  }

  function chartBox(parent, title) {
    const box = document.createElement("figure");
    box.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = title;
    box.appendChild(caption);
    parent.appendChild(box);
    return box;
  }

  // View options shared by every chart on the page (the #chart-controls form changes them).
  const view = { log: false, smoothing: 0 };
  const charts = [];

  // Exponential moving average with TensorBoard's debiasing (the first points are not pulled to 0);
  // gaps (null) stay gaps and do not reset the average.
  function ema(ys, alpha) {
    if (!alpha) return ys;
    let last = 0, n = 0;
    return ys.map(y => {
      if (y === null || y === undefined) return null;
      last = last * alpha + (1 - alpha) * y;
      n += 1;
      return last / (1 - Math.pow(alpha, n));
    });
  }

  function viewData(raw) {
    return [raw[0]].concat(raw.slice(1).map(ys => {
      const sm = ema(ys, view.smoothing);
      return view.log ? sm.map(y => (y !== null && y > 0 ? y : null)) : sm;
    }));
  }

  // The x axis spans the data: one point gets a small window around its step, not 0..20,000.
  // (uPlot pads a single x value by its own magnitude: step 20,000 alone gave 0..40,000.)
  function xRange(u, min, max) {
    const xs = u.data && u.data[0];
    if (xs && xs.length && xs[0] === xs[xs.length - 1]) return [xs[0] - 1, xs[0] + 1];
    if (min === null || max === null) return [0, 1];
    return min === max ? [min - 1, max + 1] : [min, max];
  }

  // Steps are integers: tick at 1, 2, 5, 10, 20, 50, ... steps, never at 199.1.
  const STEP_INCRS = [];
  for (let e = 1; e <= 1e12; e *= 10) STEP_INCRS.push(e, 2 * e, 5 * e);

  function plotWidth(box) {
    return Math.max(280, Math.floor(box.clientWidth) - 24);
  }

  function render(entry) {
    const { box, labels, raw } = entry;
    if (entry.plot) entry.plot.destroy();
    const many = labels.length > 12;
    const sparse = raw[0].length <= 40;  // a metric logged once or a few times: draw its points
    const series = [{ label: "step" }].concat(labels.map((label, i) => ({
      label, stroke: PALETTE[i % PALETTE.length], width: 1.25, spanGaps: true,
      points: { show: sparse, size: 6, fill: PALETTE[i % PALETTE.length] },
    })));
    const opts = {
      width: plotWidth(box), height: 280, series, legend: { show: !many },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false, range: xRange }, y: view.log ? { distr: 3, log: 10 } : {} },
      axes: [{ incrs: STEP_INCRS }, {}],
      hooks: { setScale: [(u, key) => {
        if (key === "x") { box.dataset.xmin = String(u.scales.x.min); box.dataset.xmax = String(u.scales.x.max); }
      }] },
    };
    entry.plot = new uPlot(opts, viewData(raw), box);
    box.plot = entry.plot;  // for tests and debugging
    let note = box.querySelector("p.note");
    const hidden = view.log && raw.slice(1).some(ys => ys.some(y => y !== null && y <= 0));
    if (hidden && !note) {
      note = document.createElement("p");
      note.className = "note muted";
      note.textContent = "Values ≤ 0 are not shown on a log scale.";
      box.appendChild(note);
    } else if (!hidden && note) note.remove();
    box.dataset.log = view.log ? "1" : "0";
    box.dataset.smoothing = String(view.smoothing);
    return entry.plot;
  }

  function draw(box, labels, data) {
    const entry = { box, labels, raw: data, plot: null };
    charts.push(entry);
    return render(entry);
  }

  function redrawAll() { charts.forEach(render); }

  // Wires the log-scale checkbox and the smoothing slider; charts follow the width of their box.
  function controls() {
    const log = document.getElementById("log-scale");
    const smooth = document.getElementById("smoothing");
    const shown = document.getElementById("smoothing-value");
    if (log) log.addEventListener("change", () => { view.log = log.checked; redrawAll(); });
    if (smooth) smooth.addEventListener("input", () => {
      view.smoothing = Math.min(0.99, Math.max(0, Number(smooth.value) || 0));
      if (shown) shown.textContent = view.smoothing.toFixed(2);
      smooth.setAttribute("aria-valuetext", view.smoothing ? "EMA " + view.smoothing.toFixed(2) : "off");
      redrawAll();
    });
    if (window.ResizeObserver) {
      new ResizeObserver(() => charts.forEach(c => {
        if (c.plot && Math.abs(c.plot.width - plotWidth(c.box)) > 4) c.plot.setSize({ width: plotWidth(c.box), height: 280 });
      })).observe(document.body);
    }
  }

  window.TetherCharts = { history, pool, align, chartBox, draw, num, ema, controls, view };
})();
