"""Per-resource grants, SQL-filtered listings and the role x route matrix."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, new_experiment, new_run
from tests.conftest import bearer


@pytest.fixture
def teams(client, users):
    a_id, a = users.create("ann", "writer")
    b_id, b = users.create("ben", "writer")
    exp_a = new_experiment(client, bearer(a), "team-a")
    run_a = new_run(client, bearer(a), exp_a, name="secret-run")
    client.post(
        f"/api/v1/runs/{run_a}/batch",
        headers=bearer(a),
        json={"params": {"depth": "6"}, "metrics": [{"key": "auc", "value": 0.95}]},
    )
    exp_b = new_experiment(client, bearer(b), "team-b")
    return {"a": (a_id, a, exp_a, run_a), "b": (b_id, b, exp_b)}


def test_other_teams_data_is_invisible(client, teams):
    _a_id, _a, exp_a, run_a = teams["a"]
    _b_id, b, exp_b = teams["b"]
    listed = client.get("/api/v1/experiments", headers=bearer(b)).json["items"]
    assert [e["id"] for e in listed] == [exp_b]
    assert client.get("/api/v1/experiments?name=team-a", headers=bearer(b)).json["items"] == []
    for url in (f"/api/v1/experiments/{exp_a}", f"/api/v1/runs/{run_a}", f"/api/v1/runs/{run_a}/metrics/auc"):
        r = client.get(url, headers=bearer(b))
        assert_error(r, 404, "NOT_FOUND")
        assert b"secret-run" not in r.data and b"0.95" not in r.data
    # search: no leak whether or not the experiment id is named
    for body in ({"filter": "metrics.auc > 0.5"}, {"experiment_ids": [exp_a]}, {}):
        assert client.post("/api/v1/runs/search", json=body, headers=bearer(b)).json["items"] == []
    # writes are refused the same way
    assert_error(
        client.post(f"/api/v1/runs/{run_a}/batch", json={"tags": {"x": "y"}}, headers=bearer(b)),
        404,
        "NOT_FOUND",
    )
    assert_error(
        client.post("/api/v1/runs", json={"experiment_id": exp_a}, headers=bearer(b)), 404, "NOT_FOUND"
    )


def test_grants_open_access_step_by_step(client, teams, users):
    a_id, a, exp_a, run_a = teams["a"]
    b_id, b, _exp_b = teams["b"]
    grant = {"user_id": b_id, "resource_type": "experiment", "resource_id": str(exp_a)}
    # ben cannot grant himself anything on ann's experiment
    assert_error(
        client.put("/api/v1/permissions", json={**grant, "level": "MANAGE"}, headers=bearer(b)),
        404,
        "NOT_FOUND",
    )
    assert (
        client.put("/api/v1/permissions", json={**grant, "level": "READ"}, headers=bearer(a)).status_code
        == 200
    )
    assert client.get(f"/api/v1/runs/{run_a}", headers=bearer(b)).json["params"] == {"depth": "6"}
    found = client.post("/api/v1/runs/search", json={"filter": "metrics.auc > 0.5"}, headers=bearer(b)).json
    assert [r["id"] for r in found["items"]] == [run_a]
    # READ does not allow writing: now that ben can see it, the answer is 403
    assert_error(
        client.post(f"/api/v1/runs/{run_a}/batch", json={"tags": {"x": "y"}}, headers=bearer(b)),
        403,
        "PERMISSION_DENIED",
    )
    client.put("/api/v1/permissions", json={**grant, "level": "EDIT"}, headers=bearer(a))
    assert (
        client.post(f"/api/v1/runs/{run_a}/batch", json={"tags": {"x": "y"}}, headers=bearer(b)).status_code
        == 200
    )
    assert_error(client.delete(f"/api/v1/experiments/{exp_a}", headers=bearer(b)), 403, "PERMISSION_DENIED")
    r = client.delete(
        f"/api/v1/permissions?user_id={b_id}&resource_type=experiment&resource_id={exp_a}", headers=bearer(a)
    )
    assert r.status_code == 204
    assert_error(client.get(f"/api/v1/runs/{run_a}", headers=bearer(b)), 404, "NOT_FOUND")
    audit = client.get(
        "/api/v1/audit?action=permission.*", headers=bearer(users.create("aud", "admin")[1])
    ).json
    assert [e["action"] for e in audit["items"]] == [
        "permission.granted",
        "permission.granted",
        "permission.revoked",
    ]
    assert audit["items"][1]["from_value"] == "READ" and audit["items"][1]["to_value"] == "EDIT"


def test_viewer_grant_is_capped_by_role(client, teams, users):
    _a_id, a, exp_a, run_a = teams["a"]
    v_id, v = users.create("vic", "viewer")
    client.put(
        "/api/v1/permissions",
        headers=bearer(a),
        json={"user_id": v_id, "resource_type": "experiment", "resource_id": str(exp_a), "level": "EDIT"},
    )
    assert client.get(f"/api/v1/runs/{run_a}", headers=bearer(v)).status_code == 200
    assert_error(
        client.post(f"/api/v1/runs/{run_a}/batch", json={"tags": {"x": "y"}}, headers=bearer(v)),
        403,
        "PERMISSION_DENIED",
    )


def test_admin_sees_everything(client, teams, admin_token):
    names = {e["name"] for e in client.get("/api/v1/experiments", headers=bearer(admin_token)).json["items"]}
    assert names == {"team-a", "team-b"}


@pytest.mark.parametrize("settings_overrides", [{"default_permission": "READ"}])
def test_default_read_permission(client, teams, settings_overrides):
    _b_id, b, _exp_b = teams["b"]
    _a_id, _a, exp_a, run_a = teams["a"]
    assert client.get(f"/api/v1/runs/{run_a}", headers=bearer(b)).status_code == 200
    assert len(client.get("/api/v1/experiments", headers=bearer(b)).json["items"]) == 2
    assert_error(
        client.post(f"/api/v1/runs/{run_a}/batch", json={"tags": {"x": "y"}}, headers=bearer(b)),
        403,
        "PERMISSION_DENIED",
    )


# role x route matrix: (method, url template, body, minimum role)
MATRIX = [
    ("GET", "/api/v1/experiments", None, "viewer"),
    ("POST", "/api/v1/experiments", {"name": "m-{role}"}, "writer"),
    ("POST", "/api/v1/runs/search", {}, "viewer"),
    ("GET", "/api/v1/users/me", None, "viewer"),
    ("GET", "/api/v1/users", None, "admin"),
    ("POST", "/api/v1/users", {"name": "new-{role}", "role": "viewer"}, "admin"),
    ("GET", "/api/v1/audit", None, "reviewer"),
    ("GET", "/api/v1/tokens", None, "viewer"),
    ("GET", "/api/v1/permissions", None, "viewer"),
]
RANK = {"viewer": 1, "writer": 2, "reviewer": 3, "admin": 4}


@pytest.mark.parametrize("role", list(RANK))
@pytest.mark.parametrize("method,url,body,minimum", MATRIX)
def test_role_matrix(client, users, role, method, url, body, minimum):
    _uid, tok = users.create(f"u-{role}", role)
    if body:
        body = {k: v.format(role=role) if isinstance(v, str) else v for k, v in body.items()}
    r = client.open(url, method=method, json=body, headers=bearer(tok))
    if RANK[role] >= RANK[minimum]:
        assert r.status_code < 300, (role, url, r.status_code, r.json)
    else:
        assert_error(r, 403, "PERMISSION_DENIED")
