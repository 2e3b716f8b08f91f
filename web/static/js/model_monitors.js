// The model page's monitor panel: each monitor of this model with its latest drift/performance
// status and open alerts, from GET /api/v1/monitors?model= and GET /api/v1/alerts?status=open&model=.
"use strict";
(function () {
  const box = document.getElementById("monitors");
  if (!box) return;
  const model = box.dataset.model;
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  async function get(path) {
    const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    return resp.json();
  }
  async function main() {
    const q = encodeURIComponent(model);
    const [mons, alerts] = await Promise.all([
      get("/api/v1/monitors?model=" + q),
      get("/api/v1/alerts?status=open&model=" + q).catch(() => ({ items: [] })),
    ]);
    const list = box.querySelector("ul");
    list.textContent = "";
    const open = {};
    (alerts.items || []).forEach(a => { (open[a.monitor_id] = open[a.monitor_id] || []).push(a); });
    const items = mons.items || [];
    if (!items.length) list.appendChild(el("li", "muted", "No monitors on this model."));
    items.forEach(m => {
      const li = el("li");
      li.dataset.monitorId = String(m.id);
      const a = el("a", null, m.name);
      a.href = "/monitors/" + m.id;
      li.appendChild(a);
      li.appendChild(el("span", "muted", " · " + (m.stage ? "stage " + m.stage : "alias " + m.alias)));
      const mine = open[m.id] || [];
      const worst = mine.some(x => x.severity === "alert") ? "alert" : mine.length ? "warn" : (m.status || "ok");
      li.appendChild(el("span", "badge st-" + worst + " monitor-status", worst));
      if (mine.length) li.appendChild(el("span", "badge", mine.length + " open alert" + (mine.length > 1 ? "s" : "")));
      list.appendChild(li);
    });
    box.hidden = false;
  }
  main().catch(() => { box.hidden = true; });  // monitoring not available: the page stays as it was
})();
