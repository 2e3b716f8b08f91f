// Runs table: selection of up to 100 runs for the compare page.
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
    if (e.target === all) picks().forEach(p => { p.checked = all.checked; });
    update();
  });
  update();
})();
