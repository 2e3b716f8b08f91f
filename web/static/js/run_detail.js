// Run detail: one chart per metric, from the downsampled history API (charts load lazily, in parallel).
"use strict";
(function () {
  const root = document.getElementById("charts");
  if (!root || !window.uPlot) return;
  const runId = root.dataset.runId;
  const name = root.dataset.runName;
  const keys = JSON.parse(root.dataset.keys || "[]").slice(0, 30);
  const C = window.TetherCharts;
  C.controls();
  const tasks = keys.map(key => async () => {
    const box = C.chartBox(root, key);
    const h = await C.history(runId, key, 1000);
    C.draw(box, [name], [h.xs, h.ys]);
    box.dataset.points = String(h.xs.length);
    return h;
  });
  C.pool(tasks, 6).then(() => { root.dataset.ready = "1"; });
})();
