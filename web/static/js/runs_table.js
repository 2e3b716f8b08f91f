// Runs table: selection of up to 100 runs for the compare page, and child runs folded under their
// parent (a real <button> with aria-expanded, so Enter/Space and screen readers work).
"use strict";
(function () {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const count = document.getElementById("selected-count");
  const all = document.getElementById("select-all");
  const picks = () => Array.from(form.querySelectorAll("input.pick"));
  function update() {
    const n = picks().filter(p => p.checked).length;
    button.disabled = n === 0 || n > 100;
    count.textContent = n + " selected (up to 100)";
  }
  form.addEventListener("change", e => {
    // "Select all" selects the rows that are visible (expanded children included).
    if (e.target === all) picks().forEach(p => { if (!p.closest("tr").hidden) p.checked = all.checked; });
    update();
  });
  form.addEventListener("click", e => {
    const toggle = e.target.closest("button.toggle");
    if (!toggle) return;
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.getAttribute("aria-controls").split(" ").forEach(id => {
      const row = document.getElementById(id);
      if (row) row.hidden = !open;
    });
  });
  update();
})();
