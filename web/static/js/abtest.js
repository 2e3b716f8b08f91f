// A/B test page: the effect of each treatment over time with its always-valid interval as a band
// (uPlot `bands` between the lower and upper series). Strings go through textContent only.
"use strict";
(function () {
  const COLORS = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
  const box = document.getElementById("ab-chart");
  if (!box) return;
  const num = v => (typeof v === "number" && isFinite(v) ? v : null);

  async function load() {
    const id = encodeURIComponent(box.dataset.testId);
    const resp = await fetch("/api/v1/ab-tests/" + id + "/results",
      { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error("results " + resp.status);
    return resp.json();
  }

  function draw(res) {
    const hist = res.history || [];
    if (!hist.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No outcomes yet.";
      box.appendChild(p);
      return;
    }
    const arms = res.arms.slice(1).map(a => a.name);
    const xs = hist.map(h => h.t / 1000);
    const data = [xs, xs.map(() => 0)];
    const series = [{ label: "time" }, { label: "no difference", stroke: "#999", dash: [4, 4], width: 1 }];
    const bands = [];
    arms.forEach((name, i) => {
      const c = COLORS[i % COLORS.length];
      const base = data.length;
      data.push(hist.map(h => num((h.arms[name] || {}).upper)));
      data.push(hist.map(h => num((h.arms[name] || {}).effect)));
      data.push(hist.map(h => num((h.arms[name] || {}).lower)));
      series.push({ label: name + " upper", stroke: c, width: 0.5, spanGaps: true });
      series.push({ label: name + " effect", stroke: c, width: 2, spanGaps: true, points: { show: true, size: 5 } });
      series.push({ label: name + " lower", stroke: c, width: 0.5, spanGaps: true });
      bands.push({ series: [base, base + 2], fill: c + "33" });
    });
    const opts = {
      width: Math.max(360, Math.min(box.clientWidth || 900, 900)), height: 300,
      series, bands, scales: { x: { time: true } }, legend: { show: true },
    };
    box.dataset.points = String(xs.length);
    new uPlot(opts, data, box);
  }

  load().then(draw).catch(err => {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "Could not load the results: " + err.message;
    box.appendChild(p);
  });
})();
