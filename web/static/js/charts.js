// Shared chart helpers: fetch server-side downsampled metric histories and draw uPlot line charts.
// Every string from the server is placed with textContent (uPlot does the same for labels).
"use strict";
(function () {
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];

  function num(v) {
    // Non-finite values travel as strings ("NaN", "Infinity"); uPlot gets null (a gap) for them.
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  async function history(runId, key, maxPoints) {
    const url = (document.body.dataset.root || "") + "/api/v1/runs/" + encodeURIComponent(runId) + "/metrics/" + encodeURIComponent(key) +
      "?max_points=" + maxPoints;
    const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error("history " + resp.status);
    const body = await resp.json();
    const xs = new Float64Array(body.items.length);
    const ys = new Array(body.items.length);
    body.items.forEach((p, i) => { xs[i] = p.step; ys[i] = num(p.value); });
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

  function draw(box, labels, data, width) {
    const many = labels.length > 12;
    const sparse = data[0].length <= 40;  // a metric logged once or a few times: draw its points
    const series = [{ label: "step" }].concat(labels.map((label, i) => ({
      label, stroke: PALETTE[i % PALETTE.length], width: 1.25, spanGaps: true,
      points: { show: sparse, size: 6, fill: PALETTE[i % PALETTE.length] },
    })));
    const opts = {
      width: width || Math.max(320, Math.min(box.parentElement.clientWidth - 16, 900)),
      height: 260, series, legend: { show: !many }, cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
    };
    return new uPlot(opts, data, box);
  }

  window.TetherCharts = { history, pool, align, chartBox, draw, num };
})();
