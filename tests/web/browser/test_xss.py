"""Stored XSS and template-injection payloads (saved through the API) stay inert on every page."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.registry.helpers import add_dataset_input

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss='script';alert('xss-script')</script>"
IMG = "<img src=x onerror=\"window.__xss='img';alert('xss-img')\">"
BREAKOUT = "\"'><svg onload=alert('xss-svg')>"
TEMPLATE = "{{7*7}}"
PAYLOADS = (SCRIPT, IMG, BREAKOUT, TEMPLATE)
ALL = " ".join(PAYLOADS)

INJECTED = """() => ({
  xss: window.__xss || null,
  img: document.querySelectorAll('img[src="x"]').length,
  svg: document.querySelectorAll('svg[onload]').length,
  handlers: Array.from(document.querySelectorAll('*')).filter(
      e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length,
  inline: Array.from(document.scripts).filter(s => !s.src).length,
  foreign: Array.from(document.scripts).filter(s => s.src && !s.src.includes('/static/')).length,
})"""


def _seed(app, client, people) -> dict[str, str]:
    h = people["writer"]["headers"]
    r = client.post(
        "/api/v1/experiments",
        json={"name": "xss-exp", "description": ALL, "tags": {"note": TEMPLATE}},
        headers=h,
    )
    eid = r.json["id"]
    run = client.post("/api/v1/runs", json={"experiment_id": eid, "name": IMG + TEMPLATE}, headers=h).json[
        "id"
    ]
    other = client.post("/api/v1/runs", json={"experiment_id": eid, "name": SCRIPT}, headers=h).json["id"]
    for rid in (run, other):
        r = client.post(
            f"/api/v1/runs/{rid}/batch",
            headers=h,
            json={
                "params": {"p": SCRIPT, "tpl": TEMPLATE},
                "tags": {"t": IMG, "b": BREAKOUT},
                "metrics": [
                    {"key": "loss", "value": 1.0 / (s + 1), "step": s, "timestamp": s} for s in range(20)
                ],
            },
        )
        assert r.status_code == 200, r.json
    for name in (IMG + ".html", "a" + quote("<script>") + ".svg"):
        r = client.put(
            f"/api/v1/runs/{run}/artifacts/model/{quote(name)}",
            data=b"<script>alert(1)</script>",
            headers={**h, "Content-Type": "text/html"},
        )
        assert r.status_code == 201, r.json
    r = client.post("/api/v1/models", json={"name": "<b>bad</b>"}, headers=h)
    assert r.status_code == 400  # model names are restricted; descriptions and tags are free text
    r = client.post(
        "/api/v1/models", json={"name": "xss-model", "description": ALL, "tags": {"k": IMG}}, headers=h
    )
    assert r.status_code == 201, r.json
    add_dataset_input(app, run, "data" + IMG)
    r = client.post(
        "/api/v1/models/xss-model/versions",
        headers=h,
        json={"run_id": run, "artifact_path": "model", "description": SCRIPT + TEMPLATE},
    )
    assert r.status_code == 201, r.json
    r = client.post(
        "/api/v1/models/xss-model/versions/1/transition-requests",
        headers=h,
        json={"to_stage": "Production", "comment": ALL},
    )
    req = r.json["id"]
    r = client.post(
        f"/api/v1/transition-requests/{req}/reject",
        headers=people["reviewer"]["headers"],
        json={"comment": IMG + TEMPLATE},
    )
    assert r.status_code == 200, r.json
    r = client.post(
        "/api/v1/models/xss-model/versions/1/transition-requests",
        headers=h,
        json={"to_stage": "Staging", "comment": SCRIPT},
    )
    return {"eid": str(eid), "run": run, "other": other, "req": str(req)}


def test_stored_payloads_are_inert_everywhere(app, client, people, tab):
    ids = _seed(app, client, people)
    tab.login("ada", "correct-horse-battery")
    pages = [
        "/",
        f"/experiments/{ids['eid']}?col=params.p&col=params.tpl&col=tags.t&col=tags.b&col=metrics.loss",
        f"/runs/{ids['run']}",
        f"/compare?run={ids['run']},{ids['other']}",
        "/models",
        "/models/xss-model",
        "/models/xss-model/versions/1",
        "/reviews?status=all",
        f"/reviews/{ids['req']}",
        "/audit",
        "/lineage/models/xss-model/1",
        "/admin/users",
        "/admin/permissions",
    ]
    for path in pages:
        resp = tab.go(path)
        assert resp.status == 200, path
        tab.page.wait_for_load_state("networkidle")
        found = tab.page.evaluate(INJECTED)
        assert found == {"xss": None, "img": 0, "svg": 0, "handlers": 0, "inline": 0, "foreign": 0}, (
            path,
            found,
        )
        assert tab.dialogs == [], (path, tab.dialogs)
        if path.startswith(("/runs/", "/models/xss-model/versions", "/reviews/", "/experiments/")):
            text = tab.page.inner_text("main")
            assert TEMPLATE in text, path  # an evaluated template would have left no "{{7*7}}" behind
    tab.go(f"/runs/{ids['run']}")
    assert tab.page.inner_text("#run-name") == IMG + TEMPLATE  # shown literally, as text (not "...49")
    tab.shot("xss_run_detail")
    tab.go(f"/reviews/{ids['req']}")
    tab.shot("xss_review")


def test_json_twins_return_the_raw_strings(app, client, people, tab):
    ids = _seed(app, client, people)
    tab.login("ada", "correct-horse-battery")
    body = tab.page.request.get(
        f"{tab.base}/runs/{ids['run']}", headers={"Accept": "application/json"}
    ).json()
    assert body["run"]["name"] == IMG + TEMPLATE and body["run"]["params"]["p"] == SCRIPT
