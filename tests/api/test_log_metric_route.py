"""POST /runs/{id}/metrics: one point. On PostgreSQL it is written by one autocommit statement
(services.runs.log_points); these tests hold it to the same behaviour as the batch route."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, new_experiment, new_run
from tests.conftest import bearer
from tether_server.runtime import Runtime


@pytest.fixture
def rid(client, auth):
    return new_run(client, auth, new_experiment(client, auth, "single"))


def _log(client, auth, rid, **point):
    return client.post(f"/api/v1/runs/{rid}/metrics", json=point, headers=auth)


def _latest(client, auth, rid, key):
    return client.get(f"/api/v1/runs/{rid}", headers=auth).json["metrics"].get(key)


def test_points_history_and_latest_value(client, auth, rid):
    for step, value, ts in ((5, 0.9, 10), (2, 0.1, 99), (5, 0.8, 9), (5, 0.7, 11), (7, "NaN", 1)):
        r = _log(client, auth, rid, key="acc", value=value, step=step, timestamp=ts)
        assert r.status_code == 200 and r.json == {"metrics": 1, "params": 0, "tags": 0}
        if step == 5 and ts == 11:
            assert _latest(client, auth, rid, "acc") == {"value": 0.7, "step": 5, "timestamp": 11}
        if step == 2:  # an older step never replaces the latest value
            assert _latest(client, auth, rid, "acc")["value"] == 0.9
    assert _latest(client, auth, rid, "acc") == {"value": "NaN", "step": 7, "timestamp": 1}
    items = client.get(f"/api/v1/runs/{rid}/metrics/acc", headers=auth).json["items"]
    assert [(p["step"], p["value"]) for p in items] == [(2, 0.1), (5, 0.9), (5, 0.8), (5, 0.7), (7, "NaN")]
    assert _log(client, auth, rid, key="loss", value=1.5).status_code == 200  # step 0, timestamp now
    assert _latest(client, auth, rid, "loss")["step"] == 0


def test_refusals_store_nothing(client, auth, rid, users):
    assert_error(_log(client, auth, "f" * 32, key="x", value=1), 404, "NOT_FOUND")
    assert_error(
        client.post(
            f"/api/v1/runs/{rid}/metrics", data="[1]", headers={**auth, "Content-Type": "application/json"}
        ),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(_log(client, auth, rid, key="x", value=True), 400, "INVALID_ARGUMENT")
    assert_error(_log(client, auth, rid, value=1), 400, "INVALID_ARGUMENT")
    _uid, other = users.create("outsider", "writer")
    assert _log(client, bearer(other), rid, key="x", value=1).status_code in (403, 404)
    _vid, viewer = users.create("looker", "viewer")
    assert _log(client, bearer(viewer), rid, key="x", value=1).status_code == 403
    assert client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth).status_code == 200
    assert_error(_log(client, auth, rid, key="x", value=1), 409, "FAILED_PRECONDITION")
    assert _latest(client, auth, rid, "x") is None
    assert client.get(f"/api/v1/runs/{rid}/metrics/x", headers=auth).json["items"] == []


def test_refusal_after_a_change_between_write_and_explanation_writes_nothing(
    app, client, auth, rid, monkeypatch
):
    """The write refuses a finished run; if the run accepts data again before the follow-up query that
    explains why (a restore in between), the caller still gets a 409 and nothing was written."""
    from tether_server.access import Principal
    from tether_server.errors import FailedPrecondition
    from tether_server.services.tracking import runs as svc

    assert client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth).status_code == 200
    calls = []
    monkeypatch.setattr(svc, "writable_run", lambda session, actor, run_id, **kw: calls.append(run_id))
    root = Principal(id=0, name="root", role="admin")
    rows = svc.parse_metrics([{"key": "late", "value": 1.0}], 1)
    database = Runtime.of(app).database
    with database.statement() as unit:
        assert svc.log_points(unit, root, rid, rows) is None  # refused by the write itself
    with database.session() as s, pytest.raises(FailedPrecondition):
        svc.points_refused(s, root, rid, rows)
    assert calls == [rid]
    assert client.get(f"/api/v1/runs/{rid}/metrics/late", headers=auth).json["items"] == []
    assert _latest(client, auth, rid, "late") is None


def test_grants_decide_inside_the_write(client, auth, rid, users, admin_token):
    """The caller's EDIT grant is checked by the write itself (one statement on PostgreSQL):
    no grant -> 404, READ -> 403, EDIT of a group -> written, and a refusal writes nothing."""
    exp = client.get(f"/api/v1/runs/{rid}", headers=auth).json["experiment_id"]
    uid, token = users.create("outsider", "writer")
    other = bearer(token)
    grant = {"resource_type": "experiment", "resource_id": str(exp)}
    assert_error(_log(client, other, rid, key="x", value=1), 404, "NOT_FOUND")
    r = client.put("/api/v1/permissions", json={**grant, "user_id": uid, "level": "READ"}, headers=auth)
    assert r.status_code == 200, r.json
    assert_error(_log(client, other, rid, key="x", value=2), 403, "PERMISSION_DENIED")
    assert _latest(client, auth, rid, "x") is None
    admin = bearer(admin_token)
    assert client.post("/api/v1/groups", json={"name": "trainers"}, headers=admin).status_code == 201
    assert client.put("/api/v1/groups/trainers/members/outsider", headers=admin).status_code == 200
    r = client.put("/api/v1/permissions", json={**grant, "group": "trainers", "level": "EDIT"}, headers=auth)
    assert r.status_code == 200, r.json
    assert _log(client, other, rid, key="x", value=3, step=1).status_code == 200
    assert _latest(client, auth, rid, "x")["value"] == 3.0
    items = client.get(f"/api/v1/runs/{rid}/metrics/x", headers=auth).json["items"]
    assert [p["value"] for p in items] == [3.0]


@pytest.mark.parametrize("settings_overrides", [{"default_permission": "READ"}])
def test_default_read_permission_is_not_enough_to_log(client, auth, rid, users):
    _uid, token = users.create("anyone", "writer")
    assert_error(_log(client, bearer(token), rid, key="y", value=1), 403, "PERMISSION_DENIED")
    assert _log(client, auth, rid, key="y", value=2).status_code == 200
    assert [p["value"] for p in client.get(f"/api/v1/runs/{rid}/metrics/y", headers=auth).json["items"]] == [
        2.0
    ]


@pytest.mark.parametrize(
    "change",
    ["finish", "delete_run", "delete_experiment"],
)
def test_runs_that_do_not_accept_data_refuse_in_the_write(client, auth, rid, change):
    exp = client.get(f"/api/v1/runs/{rid}", headers=auth).json["experiment_id"]
    if change == "finish":
        r = client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth)
    elif change == "delete_run":
        r = client.delete(f"/api/v1/runs/{rid}", headers=auth)
    else:
        r = client.delete(f"/api/v1/experiments/{exp}", headers=auth)
    assert r.status_code in (200, 204), r.json
    err = assert_error(_log(client, auth, rid, key="z", value=1), 409, "FAILED_PRECONDITION")
    assert ("FINISHED" in err["message"]) == (change == "finish")
    assert client.get(f"/api/v1/runs/{rid}/metrics/z", headers=auth).json["items"] == []


def test_the_writer_refuses_a_role_that_cannot_edit_whatever_the_default(app, client, auth, rid, users):
    from tether_server.access import Principal
    from tether_server.services.tracking import writer

    uid, _token = users.create("looker", "viewer")
    viewer = Principal(id=uid, name="looker", role="viewer", default_level="EDIT")
    point = [("v", 0, 1, 1.0, False)]
    with Runtime.of(app).database.session() as s:
        assert writer.of(s).write_checked(s, viewer, rid, point) is False
        s.commit()
    assert client.get(f"/api/v1/runs/{rid}/metrics/v", headers=auth).json["items"] == []
