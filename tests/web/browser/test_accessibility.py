"""axe-core over every page of the UI: no serious or critical finding, and the main actions work
with the keyboard alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.seed import experiment_with_runs, model_with_production

from .axe import audit, blocking
from .conftest import PASSWORD, SHOTS

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
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "axe-report.json").write_text(json.dumps(report, indent=2))
    bad = {p: blocking(v) for p, v in report.items() if blocking(v)}
    assert bad == {}, json.dumps(bad, indent=2)
    assert tab.errors == []
