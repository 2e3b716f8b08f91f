"""Groups and broad grants: a level is the highest of a user's own and their groups' grants
(on the resource or on every resource of its type), capped by role and filtered inside SQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.api.helpers import assert_error, new_experiment, new_run
from tests.conftest import bearer
from tests.registry.helpers import create_model, register, request_stage, reviewer, training_run
from tether_server.cli import main


def _group(client, admin, name, *members):
    r = client.post("/api/v1/groups", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.json
    for m in members:
        r = client.put(f"/api/v1/groups/{name}/members/{m}", headers=admin)
        assert r.status_code == 200, r.json
    return r.json


def _grant(client, headers, level, **target):
    return client.put("/api/v1/permissions", json={**target, "level": level}, headers=headers)


def test_reviewer_in_group_sees_queue_and_deployer_fetches_production(
    client, auth, users, admin_token, backend
):
    admin = bearer(admin_token)
    run_id = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", run_id)
    req = request_stage(client, auth, "churn", 1, "Production")
    _rid, rev = reviewer(users, "rita")
    _did, dep_token = users.create("deployer", "viewer")
    dep = bearer(dep_token)

    # deny by default: an empty queue, and the model does not exist for the deployer
    assert client.get("/api/v1/transition-requests", headers=rev).json["items"] == []
    assert_error(client.get("/api/v1/models/churn/stages/production", headers=dep), 404, "NOT_FOUND")

    group = _group(client, admin, "reviewers", "rita")
    assert group["members"] == ["rita"]
    r = _grant(client, admin, "READ", group="reviewers", resource_type="model", resource_id="*")
    assert r.status_code == 200 and r.json["group_id"] == group["id"] and r.json["user_id"] is None
    queue = client.get("/api/v1/transition-requests", headers=rev).json["items"]
    assert [q["id"] for q in queue] == [req["id"]]
    r = client.post(f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": "ok"}, headers=rev)
    assert r.status_code == 200 and r.json["status"] == "approved", r.json

    # the deployer: one READ grant on every model, by the admin
    assert (
        _grant(client, admin, "READ", user="deployer", resource_type="model", resource_id="*").status_code
        == 200
    )
    assert client.get("/api/v1/models/churn/stages/production", headers=dep).json["version"] == 1
    # a viewer stays a viewer: READ everywhere does not let it write or request
    request_stage(client, dep, "churn", 1, "Staging", status=403)

    # leaving the group closes the queue again
    assert client.delete("/api/v1/groups/reviewers/members/rita", headers=admin).status_code == 204
    assert client.get("/api/v1/transition-requests", headers=rev).json["items"] == []
    assert_error(client.get("/api/v1/models/churn", headers=rev), 404, "NOT_FOUND")


@pytest.fixture
def two_teams(client, users):
    a_id, a = users.create("ann", "writer")
    exp_a = new_experiment(client, bearer(a), "team-a")
    run_a = new_run(client, bearer(a), exp_a, name="a-run")
    client.post(
        f"/api/v1/runs/{run_a}/batch", headers=bearer(a), json={"metrics": [{"key": "auc", "value": 0.9}]}
    )
    b_id, b = users.create("ben", "writer")
    exp_b = new_experiment(client, bearer(b), "team-b")
    run_b = new_run(client, bearer(b), exp_b, name="b-run")
    client.post(
        f"/api/v1/runs/{run_b}/batch", headers=bearer(b), json={"metrics": [{"key": "auc", "value": 0.8}]}
    )
    return {"a": (a, exp_a, run_a), "b": (b, exp_b, run_b)}


def _seen(client, headers):
    exps = {e["name"] for e in client.get("/api/v1/experiments", headers=headers).json["items"]}
    runs = client.post("/api/v1/runs/search", json={"filter": "metrics.auc > 0.1"}, headers=headers).json
    return exps, {r["name"] for r in runs["items"]}


def test_group_grants_by_name_highest_level_wins_role_caps_hold(
    client, users, admin_token, two_teams, backend
):
    admin = bearer(admin_token)
    a, exp_a, run_a = two_teams["a"]
    _cid, c = users.create("cat", "writer")
    _vid, v = users.create("vic", "viewer")
    cat, vic = bearer(c), bearer(v)
    _group(client, admin, "analysts", "cat", "vic")
    assert _seen(client, cat) == (set(), set())

    # a MANAGE holder grants to a group, naming the experiment
    r = _grant(
        client, bearer(a), "EDIT", group="analysts", resource_type="experiment", resource_name="team-a"
    )
    assert r.status_code == 200 and r.json["resource_id"] == str(exp_a)
    # list and search stay filtered: team-a only, never team-b
    assert _seen(client, cat) == ({"team-a"}, {"a-run"})
    assert _seen(client, vic) == ({"team-a"}, {"a-run"})
    tag = {"tags": {"k": "v"}}
    assert client.post(f"/api/v1/runs/{run_a}/batch", json=tag, headers=cat).status_code == 200
    # the viewer's role caps the group's EDIT at READ
    assert_error(client.post(f"/api/v1/runs/{run_a}/batch", json=tag, headers=vic), 403, "PERMISSION_DENIED")

    # own READ + group EDIT: the higher wins; out of the group, own READ remains
    cat_id = client.get("/api/v1/users/me", headers=cat).json["id"]
    assert (
        _grant(
            client, bearer(a), "READ", user_id=cat_id, resource_type="experiment", resource_id=str(exp_a)
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/runs/{run_a}/batch", json=tag, headers=cat).status_code == 200
    assert client.delete("/api/v1/groups/analysts/members/cat", headers=admin).status_code == 204
    assert_error(client.post(f"/api/v1/runs/{run_a}/batch", json=tag, headers=cat), 403, "PERMISSION_DENIED")
    assert _seen(client, cat) == ({"team-a"}, {"a-run"})

    # all experiments, for the remaining member
    assert (
        _grant(
            client, admin, "READ", group="analysts", resource_type="experiment", resource_id="*"
        ).status_code
        == 200
    )
    assert _seen(client, vic) == ({"team-a", "team-b"}, {"a-run", "b-run"})
    # deleting the group deletes its grants
    assert client.delete("/api/v1/groups/analysts", headers=admin).status_code == 204
    assert _seen(client, vic) == (set(), set())


def test_who_may_do_what_and_the_audit_trail(client, users, admin_token, two_teams):
    admin = bearer(admin_token)
    a, exp_a, _run_a = two_teams["a"]
    _group(client, admin, "ops", "ben")
    # only admins manage groups and grant on everything
    assert_error(
        client.post("/api/v1/groups", json={"name": "mine"}, headers=bearer(a)), 403, "PERMISSION_DENIED"
    )
    assert_error(client.put("/api/v1/groups/ops/members/ann", headers=bearer(a)), 403, "PERMISSION_DENIED")
    r = _grant(client, bearer(a), "READ", group="ops", resource_type="experiment", resource_id="*")
    assert_error(r, 403, "PERMISSION_DENIED")
    # a member sees their group, others do not
    assert [
        g["name"] for g in client.get("/api/v1/groups", headers=bearer(two_teams["b"][0])).json["items"]
    ] == ["ops"]
    assert client.get("/api/v1/groups", headers=bearer(a)).json["items"] == []
    assert_error(client.get("/api/v1/groups/ops", headers=bearer(a)), 404, "NOT_FOUND")
    # bad input: clear 4xx
    assert_error(client.post("/api/v1/groups", json={"name": "ops"}, headers=admin), 409, "ALREADY_EXISTS")
    assert_error(
        client.post("/api/v1/groups", json={"name": "no spaces"}, headers=admin), 400, "INVALID_ARGUMENT"
    )
    assert_error(client.put("/api/v1/groups/ops/members/nobody", headers=admin), 404, "NOT_FOUND")
    assert_error(client.delete("/api/v1/groups/ops/members/ann", headers=admin), 404, "NOT_FOUND")
    both = _grant(client, admin, "READ", user="ann", group="ops", resource_type="model", resource_id="*")
    assert_error(both, 400, "INVALID_ARGUMENT")
    none = _grant(client, admin, "READ", resource_type="model", resource_id="*")
    assert_error(none, 400, "INVALID_ARGUMENT")
    assert_error(
        _grant(client, admin, "READ", group="ghosts", resource_type="model", resource_id="*"),
        404,
        "NOT_FOUND",
    )
    missing = _grant(client, admin, "READ", group="ops", resource_type="experiment", resource_name="nope")
    assert_error(missing, 404, "NOT_FOUND")
    assert_error(
        _grant(
            client,
            admin,
            "READ",
            group="ops",
            resource_type="experiment",
            resource_id="1",
            resource_name="team-a",
        ),
        400,
        "INVALID_ARGUMENT",
    )
    # grant, change, revoke by name; every step audited with who received it
    assert (
        _grant(
            client, bearer(a), "READ", group="ops", resource_type="experiment", resource_name="team-a"
        ).status_code
        == 200
    )
    assert (
        _grant(
            client, bearer(a), "EDIT", group="ops", resource_type="experiment", resource_name="team-a"
        ).status_code
        == 200
    )
    r = client.delete(
        "/api/v1/permissions?group=ops&resource_type=experiment&resource_name=team-a", headers=bearer(a)
    )
    assert r.status_code == 204
    events = client.get("/api/v1/audit?max_results=100", headers=admin).json["items"]
    mine = [
        (e["action"], e["details"].get("group"), e.get("from_value"), e.get("to_value"))
        for e in events
        if e["action"].startswith(("group.", "permission."))
    ]
    assert mine == [
        ("group.created", None, None, "ops"),
        ("group.member_added", "ops", None, "ben"),
        ("permission.granted", "ops", None, "READ"),
        ("permission.granted", "ops", "READ", "EDIT"),
        ("permission.revoked", "ops", "EDIT", None),
    ]
    assert all(e["resource_id"] == str(exp_a) for e in events if e["action"].startswith("permission."))


def test_cli_groups_and_grants(app, client, users, settings, monkeypatch, backend):
    monkeypatch.setenv("TETHER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TETHER_DATA_DIR", settings.data_dir)
    _rid, rev = reviewer(users, "rita")
    users.create("deployer", "viewer")
    wid, w = users.create("wes", "writer")
    run_id = training_run(client, bearer(w))
    create_model(client, bearer(w))
    register(client, bearer(w), "churn", run_id)
    req = request_stage(client, bearer(w), "churn", 1, "Production")

    def cli(*args: str) -> str:
        out = CliRunner().invoke(main, list(args))
        assert out.exit_code == 0, out.output
        return out.output

    assert cli("groups", "create", "reviewers") == "group reviewers created\n"
    assert cli("groups", "add", "reviewers", "rita") == "rita: added to reviewers\n"
    assert cli("groups", "add", "reviewers", "rita") == "rita: already in reviewers\n"
    assert cli("groups", "list").startswith("reviewers\trita\t")
    assert (
        cli("grants", "set", "--group", "reviewers", "--all-models", "--level", "READ")
        == "group reviewers\tall models\tREAD\n"
    )
    assert (
        cli("grants", "set", "--user", "deployer", "--model", "churn", "--level", "read")
        == "user deployer\tchurn\tREAD\n"
    )
    listed = cli("grants", "list").splitlines()
    assert "group reviewers\tall models\tREAD" in listed and "user deployer\tchurn\tREAD" in listed
    assert [q["id"] for q in client.get("/api/v1/transition-requests", headers=rev).json["items"]] == [
        req["id"]
    ]

    bad = CliRunner().invoke(main, ["groups", "add", "ghosts", "rita"])
    assert bad.exit_code == 1 and bad.output == "Error: Group 'ghosts' not found\n"
    bad = CliRunner().invoke(
        main, ["grants", "set", "--group", "reviewers", "--model", "churn", "--all-models", "--level", "READ"]
    )
    assert bad.exit_code == 2 and "exactly one of --experiment" in bad.output

    assert cli("grants", "revoke", "--group", "reviewers", "--all-models") == "revoked\n"
    assert client.get("/api/v1/transition-requests", headers=rev).json["items"] == []
    assert cli("groups", "remove", "reviewers", "rita") == "rita: removed from reviewers\n"
    assert cli("groups", "list").startswith("reviewers\t-\t")


def test_run_creation_checks_edit_inside_the_insert(client, users, admin_token, two_teams, backend):
    """Creating a run checks EDIT (own or group grant, capped by role) and an active experiment in the
    INSERT itself; a refused insert answers the same errors as before, and writes nothing."""
    admin = bearer(admin_token)
    a, exp_a, _run_a = two_teams["a"]
    _cid, c = users.create("cal", "writer")
    cal = bearer(c)
    body = {
        "experiment_id": exp_a,
        "name": "by-cal",
        "params": {"p": "1"},
        "metrics": [{"key": "m", "value": 1}],
    }
    assert_error(client.post("/api/v1/runs", json=body, headers=cal), 404, "NOT_FOUND")
    _group(client, admin, "readers", "cal")
    assert (
        _grant(
            client, bearer(a), "READ", group="readers", resource_type="experiment", resource_name="team-a"
        ).status_code
        == 200
    )
    assert_error(client.post("/api/v1/runs", json=body, headers=cal), 403, "PERMISSION_DENIED")
    assert (
        _grant(
            client, bearer(a), "EDIT", group="readers", resource_type="experiment", resource_name="team-a"
        ).status_code
        == 200
    )
    r = client.post("/api/v1/runs", json=body, headers=cal)
    assert r.status_code == 201, r.json
    created = r.json
    assert created["params"] == {"p": "1"} and created["metrics"]["m"]["value"] == 1
    assert client.get(f"/api/v1/runs/{created['id']}", headers=cal).json == created  # as stored
    assert client.delete(f"/api/v1/experiments/{exp_a}", headers=bearer(a)).status_code in (200, 204)
    assert_error(client.post("/api/v1/runs", json=body, headers=cal), 409, "FAILED_PRECONDITION")
    names = {
        x["name"]
        for x in client.post(
            "/api/v1/runs/search", json={"experiment_ids": [exp_a], "lifecycle": "all"}, headers=admin
        ).json["items"]
    }
    assert names == {"a-run", "by-cal"}  # the refused inserts left nothing
