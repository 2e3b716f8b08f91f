// Copies the third-party browser files the UI uses from node_modules into static/dist/.
// No bundler: the pages load these files directly (same origin, so the CSP allows them).
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(web, "static", "dist");
const files = [
  ["uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["uplot/LICENSE", "uPlot.LICENSE.txt"],
  ["cytoscape/dist/cytoscape.min.js", "cytoscape.min.js"],
  ["cytoscape/LICENSE", "cytoscape.LICENSE.txt"],
];
// Test-only files (devDependencies): the browser tests inject axe-core into every page they audit.
// Skipped with a note when dev dependencies are not installed (npm ci --omit=dev).
const devFiles = [
  ["axe-core/axe.min.js", "axe.min.js"],
  ["axe-core/LICENSE", "axe-core.LICENSE.txt"],
];

mkdirSync(out, { recursive: true });
for (const [src, dst] of files) {
  const from = join(web, "node_modules", src);
  if (!existsSync(from)) {
    console.error(`missing ${from}: run npm ci in web/ first`);
    process.exit(1);
  }
  copyFileSync(from, join(out, dst));
  console.log(`static/dist/${dst}`);
}
for (const [src, dst] of devFiles) {
  const from = join(web, "node_modules", src);
  if (!existsSync(from)) {
    console.log(`skipped static/dist/${dst} (dev dependency not installed)`);
    continue;
  }
  copyFileSync(from, join(out, dst));
  console.log(`static/dist/${dst}`);
}
