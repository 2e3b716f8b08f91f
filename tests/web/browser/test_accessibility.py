"""axe-core over every page of the UI: no serious or critical finding, and the main actions work
with the keyboard alone."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.web.seed import experiment_with_runs, model_with_production

from .axe import audit, blocking
from .conftest import PASSWORD, SHOTS, tab_to

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"default_permission": "READ", "webhook_allowlist": "127.0.0.1/32"}


def _seed(app: Any, client: Any, people: dict[str, Any]) -> dict[str, Any]:
    w, admin = people["writer"]["headers"], people["admin"]["headers"]
    eid, ids = experiment_with_runs(client, w, 4, steps=30)
    child = client.post(
        "/api/v1/runs", json={"experiment_id": eid, "name": "fold-0", "parent_run_id": ids[0]}, headers=w
    )
    assert child.status_code == 201, child.json
    seeded = model_with_production(app, client, people["writer"], people["reviewer"])
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=w,
        json={"to_stage": "Production", "comment": "v2 is better"},
    )
    assert r.status_code == 201, r.json
    hook = client.post(
        "/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/", "events": ["*"]}
    )
    assert hook.status_code == 201, hook.json
    model_id = client.get("/api/v1/models/churn", headers=w).json["id"]
    r = client.put(
        "/api/v1/permissions",
        headers=admin,
        json={
            "user_id": people["reviewer"]["id"],
            "resource_type": "model",
            "resource_id": str(model_id),
            "level": "EDIT",
        },
    )
    assert r.status_code in (200, 201), r.json
    return {
        "experiment": eid,
        "runs": ids,
        "transition": client.get("/api/v1/transition-requests?status=pending", headers=admin).json["items"][
            0
        ]["id"],
        "webhook": hook.json["id"],
        "dataset_version": seeded["dataset_version_1"],
    }


def _pages(s: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every page of the UI, with the selector that says its scripts finished (charts, graph)."""
    run = s["runs"][0]
    return [
        ("/", None),
        (f"/experiments/{s['experiment']}", None),
        (f"/runs/{run}", "#charts[data-ready='1']"),
        ("/compare?" + "&".join(f"run={r}" for r in s["runs"][:3]), "#compare-charts[data-ready='1']"),
        ("/models", None),
        ("/models/churn", None),
        ("/models/churn/versions/2", None),
        ("/reviews", None),
        (f"/reviews/{s['transition']}", None),
        ("/audit", None),
        ("/lineage/models/churn/1", "#graph[data-ready='1']"),
        (f"/lineage/datasets/{s['dataset_version']}", "#graph[data-ready='1']"),
        ("/admin/users", None),
        ("/admin/tokens", None),
        ("/admin/permissions", None),
        ("/admin/webhooks", None),
        (f"/admin/webhooks/{s['webhook']}", None),
    ]


def test_axe_finds_nothing_serious_on_any_page(app, client, people, tab):
    s = _seed(app, client, people)
    report: dict[str, list[dict[str, Any]]] = {}
    tab.go("/login")
    report["/login"] = audit(tab)
    tab.login("ada", PASSWORD)
    for path, ready in _pages(s):
        resp = tab.go(path)
        assert resp.status == 200, (path, resp.status)
        if ready:
            tab.page.wait_for_selector(ready)
        report[path] = audit(tab)
    # States reached by interaction: the column chooser open and child runs expanded; an error page.
    tab.go(f"/experiments/{s['experiment']}")
    tab.page.click("#column-chooser summary")
    tab.page.click("#runs-table button.toggle")
    report["runs table, chooser open, children expanded"] = audit(tab)
    tab.shot("axe_runs_table_chooser_children")
    assert tab.errors == []
    assert tab.go("/models/no-such-model").status == 404
    report["404 page"] = audit(tab)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "axe-report.json").write_text(json.dumps(report, indent=2))
    bad = {p: blocking(v) for p, v in report.items() if blocking(v)}
    assert bad == {}, json.dumps(bad, indent=2)


def test_main_actions_work_with_the_keyboard_alone(app, client, people, tab):
    s = _seed(app, client, people)
    page = tab.page
    tab.login("rita", PASSWORD)
    tab.go(f"/experiments/{s['experiment']}")
    # Filter box: reachable with Tab, Enter applies it.
    tab_to(tab, "#filter")
    page.keyboard.type("tags.team = 'core'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"filter=tags\.team"))
    names = [n.strip() for n in page.locator("#runs-table tbody td.run-name").all_inner_texts()]
    assert names == ["run-002", "run-000"]
    tab.go(f"/experiments/{s['experiment']}")
    # Column chooser: open it, tick a column with Space, apply with Enter.
    tab_to(tab, "#column-chooser summary")
    page.keyboard.press("Enter")
    assert page.locator("#column-chooser").get_attribute("open") is not None
    tab_to(tab, "#column-chooser input[value='tags.team']")
    page.keyboard.press("Space")
    tab_to(tab, "#apply-columns")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"col=tags\.team"))
    assert page.locator("#runs-table tr:not([hidden]) td[data-column='tags.team']").count() == 4
    # Child runs: the toggle is a button; Enter expands, Space folds again.
    toggle = f"#runs-table tr[data-run-id='{s['runs'][0]}'] button.toggle"
    tab_to(tab, toggle)
    page.keyboard.press("Enter")
    assert page.locator(toggle).get_attribute("aria-expanded") == "true"
    assert page.locator("#runs-table tr.child-row").first.is_visible()
    tab.shot("keyboard_children_expanded")
    page.keyboard.press("Space")
    assert page.locator(toggle).get_attribute("aria-expanded") == "false"
    assert not page.locator("#runs-table tr.child-row").first.is_visible()
    # Select two runs with Space and open the comparison with Enter.
    for rid in s["runs"][:2]:
        tab_to(tab, f"#runs-table tr[data-run-id='{rid}'] input.pick")
        page.keyboard.press("Space")
    tab_to(tab, "#compare-button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/compare\?"))
    page.wait_for_selector("#compare-charts[data-ready='1']")
    # Review: from the nav badge to the request, comment and approve without a mouse.
    tab_to(tab, "#nav-reviews")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/reviews\?for=me$"))
    tab_to(tab, f"#requests tr[data-request-id='{s['transition']}'] a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/reviews/{s['transition']}$"))
    tab_to(tab, "#comment")
    page.keyboard.type("Checked with the keyboard only")
    tab_to(tab, "#approve")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.locator("#request-status").inner_text() == "approved"
    tab.shot("keyboard_review_approved")
    assert tab.errors == [] and tab.dialogs == []
