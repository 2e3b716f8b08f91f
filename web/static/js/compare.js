// Compare: for each chosen metric, one chart overlaying every selected run (up to 100). Histories come
// downsampled by the server (max_points per run), fetched in batches of runs, so 100 runs x 10,000
// steps stays small in the page.
"use strict";
(function () {
  const root = document.getElementById("compare-charts");
  if (!root || !window.uPlot) return;
  const C = window.TetherCharts;
  const runs = JSON.parse(root.dataset.runs || "[]");
  const names = JSON.parse(root.dataset.names || "[]").map((n, i) => n || runs[i].slice(0, 8));
  const keys = JSON.parse(root.dataset.keys || "[]");
  const status = document.getElementById("chart-status");
  const t0 = performance.now();
  const maxPoints = runs.length > 20 ? 300 : 1000;
  const BATCH = 10;

  async function batch(key, ids) {
    const qs = new URLSearchParams({ key, max_points: String(maxPoints), run: ids.join(",") });
    const resp = await fetch((document.body.dataset.root || "") + "/compare/history?" + qs, { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error("history " + resp.status);
    return (await resp.json()).items;
  }

  async function chart(key) {
    const box = C.chartBox(root, key);
    const groups = [];
    for (let i = 0; i < runs.length; i += BATCH) groups.push(runs.slice(i, i + BATCH));
    const parts = await C.pool(groups.map(ids => () => batch(key, ids)), 4);
    const items = Object.assign({}, ...parts.filter(Boolean));
    const present = [];
    runs.forEach((id, i) => {
      const h = items[id];
      if (h && h.steps.length) present.push([{ xs: h.steps, ys: h.values.map(C.num) }, names[i]]);
    });
    C.draw(box, present.map(p => p[1]), C.align(present.map(p => p[0])));
    box.dataset.series = String(present.length);
  }

  Promise.all(keys.map(chart)).then(() => {
    root.dataset.ready = "1";
    status.textContent = runs.length + " runs, " + keys.length + " metrics charted in " +
      Math.round(performance.now() - t0) + " ms";
  });
})();
