"""UI pages over HTTP (no browser), on SQLite and PostgreSQL: login redirects, JSON twins, CSRF, roles,
security headers."""

from __future__ import annotations

import re

import pytest

from tests.web.seed import experiment_with_runs, model_with_production

PASSWORD = "correct-horse-battery"


@pytest.fixture
def settings_overrides():
    return {"default_permission": "READ"}


@pytest.fixture
def people(users):
    out = {}
    for name, role in (("wendy", "writer"), ("rita", "reviewer"), ("ada", "admin"), ("vic", "viewer")):
        uid, token = users.create(name, role, PASSWORD)
        out[role] = {"id": uid, "name": name, "headers": {"Authorization": f"Bearer {token}"}}
    return out


def login(app, name: str):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    page = c.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    c.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return c


HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}


def test_anonymous_page_views_redirect_to_login_but_json_gets_401(client):
    r = client.get("/experiments/1?filter=x", headers=HTML)
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=%2Fexperiments%2F1%3Ffilter%3Dx"
    r = client.get("/experiments/1", headers=JSON)
    assert r.status_code == 401 and r.json["error"]["code"] == "UNAUTHENTICATED"
    r = client.post("/reviews/1/decision", data={"decision": "approve", "comment": "x"})
    assert r.status_code == 401


def test_pages_send_security_headers_and_no_inline_script(app, people):
    c = login(app, "wendy")
    r = c.get("/", headers=HTML)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.get_data(as_text=True) and " style=" not in r.get_data(as_text=True)


def test_json_twins_of_the_pages(app, client, people):
    h = people["writer"]["headers"]
    eid, ids = experiment_with_runs(client, h, 3, steps=5)
    model_with_production(app, client, people["writer"], people["reviewer"])
    c = login(app, "ada")
    body = c.get("/", headers=JSON).json
    assert [e["name"] for e in body["items"]] == ["sweep", "train-v1", "train-v2"]
    body = c.get(f"/experiments/{eid}?order=metrics.auc+DESC&col=params.depth", headers=JSON).json
    assert [r["name"] for r in body["items"]] == ["run-002", "run-001", "run-000"]
    assert body["columns"] == ["params.depth"] and body["available"]["tags"] == ["team"]
    body = c.get(f"/runs/{ids[0]}?format=json").json
    assert body["run"]["params"] == {"depth": "0", "lr": "0.1"} and body["experiment"]["id"] == eid
    body = c.get("/models/churn", headers=JSON).json
    assert {v["version"]: v["stage"] for v in body["versions"]} == {1: "Production", 2: "None"}
    body = c.get("/models/churn/versions/1", headers=JSON).json
    assert body["version"]["datasets"][0]["name"] == "churn-data"
    assert {n["type"] for n in body["lineage"]["nodes"]} >= {
        "run",
        "model_version",
        "dataset_version",
        "stage",
    }
    body = c.get("/lineage/models/churn/1", headers=JSON).json
    assert all(n["href"] and n["href"].startswith("/") for n in body["nodes"])
    body = c.get("/audit?model=churn&action=model.*", headers=JSON).json
    assert body["items"] and all(e["model"] == "churn" for e in body["items"])
    assert body["items"][0]["id"] > body["items"][-1]["id"]  # newest first
    body = c.get("/admin/users", headers=JSON).json
    assert {u["name"] for u in body["items"]} >= {"wendy", "rita", "ada", "vic"}
    body = c.get(f"/compare/history?key=loss&max_points=4&run={ids[0]},{ids[1]}").json
    assert len(body["items"][ids[0]]["steps"]) == 4 and body["items"][ids[0]]["steps"][0] == 0


def test_filter_parse_error_is_a_400_with_its_position(app, client, people):
    eid, _ = experiment_with_runs(client, people["writer"]["headers"], 2, steps=2)
    c = login(app, "wendy")
    r = c.get(f"/experiments/{eid}?filter=metrics.auc+%3E%3E+1", headers=JSON)
    assert r.status_code == 400 and r.json["items"] == []
    assert isinstance(r.json["error"]["details"]["position"], int)
    r = c.get(f"/experiments/{eid}?filter=metrics.auc+%3E%3E+1", headers=HTML)
    assert r.status_code == 400 and 'id="filter-error"' in r.get_data(as_text=True)


def test_decision_form_needs_csrf_role_and_comment(app, client, people):
    model_with_production(app, client, people["writer"], people["reviewer"])
    req = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=people["writer"]["headers"],
        json={"to_stage": "Production", "comment": "please"},
    ).json["id"]
    rita = login(app, "rita")
    r = rita.post(f"/reviews/{req}/decision", data={"decision": "approve", "comment": "ok"})
    assert r.status_code == 403 and r.json["error"]["details"]["reason"] == "csrf"
    r = rita.post(
        f"/reviews/{req}/decision", data={"decision": "approve", "comment": "  ", "csrf_token": rita.csrf}
    )
    assert r.status_code == 400
    wendy = login(app, "wendy")
    r = wendy.post(
        f"/reviews/{req}/decision", data={"decision": "approve", "comment": "me", "csrf_token": wendy.csrf}
    )
    assert r.status_code == 403
    assert (
        client.get(f"/api/v1/transition-requests/{req}", headers=people["writer"]["headers"]).json["status"]
        == "pending"
    )
    r = rita.post(
        f"/reviews/{req}/decision",
        data={"decision": "approve", "comment": "ship it", "csrf_token": rita.csrf},
    )
    assert r.status_code == 303 and r.headers["Location"].startswith(f"/reviews/{req}")
    body = rita.get(f"/reviews/{req}", headers=JSON).json
    assert body["request"]["status"] == "approved" and body["candidate"]["stage"] == "Production"
    assert body["can_decide"] is False
    assert any(
        e["action"] == "model.transition_approved" and e["comment"] == "ship it" for e in body["events"]
    )


def test_roles_gate_admin_and_audit_pages(app, people):
    for name, path in (("wendy", "/admin/users"), ("rita", "/admin/webhooks"), ("vic", "/audit")):
        r = login(app, name).get(path, headers=HTML)
        assert r.status_code == 403, (name, path)
    assert login(app, "rita").get("/audit", headers=HTML).status_code == 200


def test_compare_refuses_more_than_100_runs(app, people):
    c = login(app, "wendy")
    r = c.get("/compare?run=" + ",".join(f"r{i}" for i in range(101)), headers=JSON)
    assert r.status_code == 400 and r.json["error"]["details"]["max"] == 100


def test_admin_creates_a_user_through_the_form(app, people):
    c = login(app, "ada")
    r = c.post(
        "/admin/users",
        data={"name": "newbie", "role": "viewer", "password": "long-enough-pw", "csrf_token": c.csrf},
    )
    assert r.status_code == 303
    assert "newbie" in {u["name"] for u in c.get("/admin/users", headers=JSON).json["items"]}
    r = c.post("/admin/users", data={"name": "x", "role": "viewer"})
    assert r.status_code == 403


def test_artifact_downloads_cannot_render_as_html(client, people):
    h = people["writer"]["headers"]
    _eid, ids = experiment_with_runs(client, h, 1, steps=1)
    r = client.put(
        f"/api/v1/runs/{ids[0]}/artifacts/page.html",
        data=b"<script>alert(1)</script>",
        headers={**h, "Content-Type": "text/html"},
    )
    assert r.status_code == 201
    r = client.get(f"/api/v1/runs/{ids[0]}/artifacts/page.html", headers=h)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers.get("Content-Disposition", "").startswith("attachment")
    assert "html" not in r.headers["Content-Type"] and "svg" not in r.headers["Content-Type"]


def test_runs_table_twin_nests_children_and_pages_top_level_runs(app, client, people):
    h = people["writer"]["headers"]
    eid, ids = experiment_with_runs(client, h, 3, steps=2)
    kids = []
    for i in range(2):
        r = client.post(
            "/api/v1/runs",
            json={"experiment_id": eid, "name": f"fold-{i}", "parent_run_id": ids[1]},
            headers=h,
        )
        kids.append(r.json["id"])
    c = login(app, "vic")
    body = c.get(f"/experiments/{eid}?order=name+ASC&size=25", headers=JSON).json
    assert [r["name"] for r in body["items"]] == ["run-000", "run-001", "run-002"]
    assert {p: [k["id"] for k in ks] for p, ks in body["children"].items()} == {ids[1]: kids}
    # A filter searches every run, children included, flat.
    body = c.get(
        f"/experiments/{eid}?filter=attributes.run_name+LIKE+'fold-%25'&order=name+ASC", headers=JSON
    ).json
    assert [r["name"] for r in body["items"]] == ["fold-0", "fold-1"] and body["children"] == {}
    assert all(r["parent_run_id"] == ids[1] for r in body["items"])
    html = c.get(f"/experiments/{eid}", headers=HTML).get_data(as_text=True)
    assert html.count('class="child-row"') == 2 and 'aria-expanded="false"' in html


def test_compact_dates_keep_the_full_time_in_a_title():
    from tether_server.ui.common import fmt_iso, fmt_short_time, fmt_time

    ms = 1_709_561_100_000  # 2024-03-04 14:05:00 UTC
    assert fmt_short_time(ms, now_ms=ms + 86_400_000) == "Mar 04 14:05"
    assert fmt_short_time(ms, now_ms=ms + 400 * 86_400_000) == "2024-03-04"
    assert fmt_time(ms) == "2024-03-04 14:05:00" and fmt_iso(ms) == "2024-03-04T14:05:00Z"
    assert fmt_short_time(None) == ""


def test_explanation_round_trip_to_the_version_page(app, client, people):
    """API → UI on both databases: the explanation put through the API is what the version page (HTML
    and its JSON twin) shows in the model card, ranked by |importance|."""
    model_with_production(app, client, people["writer"], people["reviewer"])
    imp = {"tenure": -0.5, "age": 0.25, "plan|tier": 0.75}
    r = client.put(
        "/api/v1/models/churn/versions/1/explanation",
        json={"importances": imp, "method": "coefficient"},
        headers=people["writer"]["headers"],
    )
    assert r.status_code == 200, r.json
    c = login(app, "rita")
    twin = c.get("/models/churn/versions/1", headers=JSON).json
    top = twin["card"]["explanation"]["top_features"]
    assert [(t["rank"], t["feature"], t["importance"]) for t in top] == [
        (1, "plan|tier", 0.75),
        (2, "tenure", -0.5),
        (3, "age", 0.25),
    ]
    html = c.get("/models/churn/versions/1", headers=HTML).get_data(as_text=True)
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]+)</td>", html)
    assert rows[:3] == [("1", "plan|tier"), ("2", "tenure"), ("3", "age")]
    assert "coefficient" in html
