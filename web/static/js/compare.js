// Compare: for each chosen metric, one chart overlaying every selected run (up to 100). Each run's
// history comes downsampled from the server (max_points), so 100 runs x 10,000 steps stays small.
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

  async function chart(key) {
    const box = C.chartBox(root, key);
    const tasks = runs.map(id => () => C.history(id, key, maxPoints));
    const hists = await C.pool(tasks, 8);
    const present = hists.map((h, i) => [h, names[i]]).filter(([h]) => h && h.xs.length);
    C.draw(box, present.map(p => p[1]), C.align(present.map(p => p[0])));
    box.dataset.series = String(present.length);
  }

  Promise.all(keys.map(chart)).then(() => {
    root.dataset.ready = "1";
    status.textContent = runs.length + " runs, " + keys.length + " metrics charted in " +
      Math.round(performance.now() - t0) + " ms";
  });
})();
