"""Four eyes, policies, duplicate and stale requests, reject/cancel, aliases."""

from __future__ import annotations

from tests.api.helpers import assert_error
from tests.conftest import bearer
from tests.registry.helpers import create_model, grant, register, request_stage, reviewer, training_run


def _setup(client, auth, n_versions=1):
    run_id = training_run(client, auth)
    model = create_model(client, auth)
    for _ in range(n_versions):
        register(client, auth, "churn", run_id)
    return model


def _approve(client, req_id, headers):
    return client.post(
        f"/api/v1/transition-requests/{req_id}/approve", json={"comment": "ok"}, headers=headers
    )


def test_nobody_approves_their_own_request_admins_included(client, auth, users, admin_token, backend):
    model = _setup(client, auth)
    rid, rev = reviewer(users, "rita")
    grant(client, auth, rid, model["id"], "EDIT")
    own = request_stage(client, rev, "churn", 1, "Production")
    err = assert_error(_approve(client, own["id"], rev), 403, "PERMISSION_DENIED")
    assert "own" in err["message"]
    assert_error(
        client.post(f"/api/v1/transition-requests/{own['id']}/reject", json={}, headers=rev),
        403,
        "PERMISSION_DENIED",
    )
    assert (
        client.post(f"/api/v1/transition-requests/{own['id']}/cancel", json={}, headers=rev).json["status"]
        == "cancelled"
    )

    admin = bearer(admin_token)
    by_admin = request_stage(client, admin, "churn", 1, "Production")
    assert_error(_approve(client, by_admin["id"], admin), 403, "PERMISSION_DENIED")
    r = _approve(client, by_admin["id"], rev)
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert client.get("/api/v1/models/churn/stages/production", headers=admin).json["version"] == 1


def test_duplicate_pending_request_is_409_and_reviewer_needs_read(client, auth, users, backend):
    _setup(client, auth)
    req = request_stage(client, auth, "churn", 1, "Production")
    assert_error(
        client.post(
            "/api/v1/models/churn/versions/1/transition-requests",
            headers=auth,
            json={"to_stage": "production"},
        ),
        409,
        "ALREADY_EXISTS",
    )
    _rid, rev = reviewer(users, "rex")  # no grant on the model: it does not exist for rex
    assert_error(_approve(client, req["id"], rev), 404, "NOT_FOUND")
    assert client.get("/api/v1/transition-requests", headers=rev).json["items"] == []


def test_policy_two_approvals_and_reject(client, auth, users, admin_token, backend):
    model = _setup(client, auth, 2)
    r = client.put(
        "/api/v1/models/churn/policy", headers=auth, json={"required_approvals": {"production": 2}}
    )
    assert (
        r.status_code == 200
        and r.json["required_approvals"]["Production"] == 2
        and r.json["source"] != "default"
    )
    ids = [reviewer(users, n) for n in ("r1", "r2", "r3")]
    for uid, _h in ids:
        grant(client, auth, uid, model["id"])
    req = request_stage(client, auth, "churn", 1, "Production")
    first = _approve(client, req["id"], ids[0][1])
    assert first.json["status"] == "pending" and len(first.json["approvals"]) == 1
    assert_error(_approve(client, req["id"], ids[0][1]), 409, "ALREADY_EXISTS")
    assert _approve(client, req["id"], ids[1][1]).json["status"] == "approved"
    assert_error(_approve(client, req["id"], ids[2][1]), 409, "FAILED_PRECONDITION")

    req2 = request_stage(client, auth, "churn", 2, "Production")
    r = client.post(
        f"/api/v1/transition-requests/{req2['id']}/reject", json={"comment": "no"}, headers=ids[2][1]
    )
    assert r.json["status"] == "rejected" and r.json["decision_comment"] == "no"
    assert client.get("/api/v1/models/churn/stages/production", headers=auth).json["version"] == 1
    audit = client.get(
        "/api/v1/audit?model=churn&action=model.policy_changed", headers=bearer(admin_token)
    ).json
    assert len(audit["items"]) == 1


def test_policy_changes_need_manage_or_admin(client, auth, users, backend):
    model = _setup(client, auth)
    uid, tok = users.create("ed", "writer")
    grant(client, auth, uid, model["id"], "EDIT")
    assert_error(
        client.put("/api/v1/models/churn/policy", headers=bearer(tok), json={"required_approvals": {}}),
        403,
        "PERMISSION_DENIED",
    )
    assert_error(
        client.put("/api/v1/registry/policy", headers=auth, json={"required_approvals": {"Staging": 1}}),
        403,
        "PERMISSION_DENIED",
    )
    assert_error(
        client.put(
            "/api/v1/models/churn/policy", headers=auth, json={"required_approvals": {"Production": -1}}
        ),
        400,
        "INVALID_ARGUMENT",
    )


def test_global_policy_applies_and_archive_existing(client, auth, users, admin_token, backend):
    model = _setup(client, auth, 2)
    admin = bearer(admin_token)
    r = client.put("/api/v1/registry/policy", headers=admin, json={"required_approvals": {"Staging": 1}})
    assert r.status_code == 200, r.json
    assert request_stage(client, auth, "churn", 1, "Staging")["status"] == "pending"
    # Production: v1 then v2; approving v2 archives v1.
    rid, rev = reviewer(users, "rita")
    grant(client, auth, rid, model["id"])
    assert (
        _approve(client, request_stage(client, auth, "churn", 2, "Production")["id"], rev).status_code == 200
    )
    # The pending Staging request for v1 is now stale only if v1 moved; it did not, so approving works.
    assert (
        _approve(
            client, client.get("/api/v1/transition-requests", headers=rev).json["items"][0]["id"], rev
        ).json["status"]
        == "approved"
    )
    r1 = request_stage(client, auth, "churn", 1, "Production")
    assert _approve(client, r1["id"], rev).status_code == 200
    versions = {
        v["version"]: v["stage"]
        for v in client.get("/api/v1/models/churn/versions", headers=auth).json["items"]
    }
    assert versions == {1: "Production", 2: "Archived"}


def test_stale_request_fails_clearly(client, auth, users, backend):
    model = _setup(client, auth)
    rid, rev = reviewer(users, "rita")
    grant(client, auth, rid, model["id"])
    req = request_stage(client, auth, "churn", 1, "Production")
    request_stage(client, auth, "churn", 1, "Archived")  # 0 approvals: applied at once
    err = assert_error(_approve(client, req["id"], rev), 409, "FAILED_PRECONDITION")
    assert err["details"]["current_stage"] == "Archived" and "no longer" in err["message"]
    assert client.get(f"/api/v1/transition-requests/{req['id']}", headers=rev).json["status"] == "pending"


def test_archive_existing_false_refuses_second_production(client, auth, users, backend):
    model = _setup(client, auth, 2)
    rid, rev = reviewer(users, "rita")
    grant(client, auth, rid, model["id"])
    assert (
        _approve(client, request_stage(client, auth, "churn", 1, "Production")["id"], rev).status_code == 200
    )
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=auth,
        json={"to_stage": "Production", "archive_existing": False},
    )
    err = assert_error(_approve(client, r.json["id"], rev), 409, "FAILED_PRECONDITION")
    assert err["details"]["production_version"] == 1


def test_aliases_point_to_one_version(client, auth, backend):
    _setup(client, auth, 2)
    assert (
        client.put("/api/v1/models/churn/aliases/champion", json={"version": 1}, headers=auth).status_code
        == 200
    )
    assert client.get("/api/v1/models/churn/aliases/champion", headers=auth).json["version"] == 1
    client.put("/api/v1/models/churn/aliases/champion", json={"version": 2}, headers=auth)
    body = client.get("/api/v1/models/churn/aliases/champion", headers=auth).json
    assert body["version"] == 2 and body["aliases"] == ["champion"]
    assert client.get("/api/v1/models/churn", headers=auth).json["aliases"] == {"champion": 2}
    for bad in ("production", "1abc", "a b"):
        assert client.put(
            f"/api/v1/models/churn/aliases/{bad}", json={"version": 1}, headers=auth
        ).status_code in (400, 404)
    assert client.delete("/api/v1/models/churn/aliases/champion", headers=auth).status_code == 204
    err = assert_error(client.get("/api/v1/models/churn/aliases/champion", headers=auth), 404, "NOT_FOUND")
    assert "champion" in err["message"]
