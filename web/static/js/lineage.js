// Lineage graph: fetches this page's JSON twin and draws it left to right with cytoscape (canvas, so
// labels are never parsed as HTML). Clicking a node opens its page.
"use strict";
(function () {
  const box = document.getElementById("graph");
  if (!box || !window.cytoscape) return;
  const COLUMN = { dataset_version: 0, run: 1, model_version: 2, stage: 3, alias: 3 };
  const SHAPE = { dataset_version: "rectangle", run: "ellipse", model_version: "diamond", stage: "triangle",
    alias: "pentagon" };
  const COLOR = { dataset_version: "#0f766e", run: "#1d5fbf", model_version: "#7c3aed", stage: "#b45309",
    alias: "#be185d" };

  function label(n) {
    switch (n.type) {
      case "dataset_version": return (n.dataset || "dataset") + " @ " + String(n.hash || "").slice(0, 8);
      case "run": return "run " + (n.name || String(n.run_id || "").slice(0, 8));
      case "model_version": return n.model + " v" + n.version + (n.stage ? " (" + n.stage + ")" : "");
      case "stage": return n.stage;
      case "alias": return "@" + n.alias;
      default: return n.id;
    }
  }

  function positions(nodes) {
    const rows = {};
    const pos = {};
    nodes.forEach(n => {
      const col = COLUMN[n.type] ?? 4;
      rows[col] = (rows[col] || 0) + 1;
      pos[n.id] = { x: 80 + col * 260, y: 60 + (rows[col] - 1) * 90 };
    });
    return pos;
  }

  async function main() {
    const resp = await fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) { box.textContent = "Could not load the graph (" + resp.status + ")"; return; }
    const g = await resp.json();
    const pos = positions(g.nodes);
    const elements = g.nodes.map(n => ({
      group: "nodes", data: { id: n.id, label: label(n), type: n.type, href: n.href || "", root: n.id === g.root }, position: pos[n.id],
    })).concat(g.edges.map((e, i) => ({
      group: "edges", data: { id: "e" + i, source: e.source, target: e.target, label: e.type },
    })));
    const cy = window.cytoscape({
      container: box, elements, layout: { name: "preset" }, wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4,
          width: 26, height: 26, "background-color": e => COLOR[e.data("type")] || "#555",
          shape: e => SHAPE[e.data("type")] || "ellipse" } },
        { selector: "node[href != '']", style: { "border-width": 2, "border-color": "#111" } },
        { selector: "node[?root]", style: { width: 36, height: 36 } },
        { selector: "edge", style: {
          width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)",
          "font-size": 9, color: "#555", "line-color": "#9ca3af", "target-arrow-color": "#9ca3af" } },
      ],
    });
    cy.on("tap", "node", evt => {
      const href = evt.target.data("href");
      if (href && href.startsWith("/") && !href.startsWith("//")) window.location.assign((document.body.dataset.root || "") + href);
    });
    cy.fit(undefined, 30);
    window.tetherLineage = cy;  // for tests and debugging
    box.dataset.ready = "1";
    box.dataset.nodes = String(g.nodes.length);
  }
  main();
})();
