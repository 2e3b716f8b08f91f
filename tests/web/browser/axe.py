"""axe-core in the browser tests: injected from web/static/dist (copied there from node_modules by
``npm run build``; never committed) and run over a whole page.

The script is loaded by URL from the app's own static route, so the page's CSP (no inline scripts)
allows it and stays enforced while the audit runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import WEB_DIST

BLOCKING = ("serious", "critical")


def audit(tab: Any) -> list[dict[str, Any]]:
    """axe's violations on the current page, each with its impact, rule id and the failing targets."""
    if not (WEB_DIST / "axe.min.js").exists():
        pytest.fail("axe-core is not built: run `npm ci && npm run build` in web/ (dev dependencies)")
    page = tab.page
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(url=tab.base + "/static/dist/axe.min.js")
    found = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
              targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")) }));
        }"""
    )
    return list(found)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]
