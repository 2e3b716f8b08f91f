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


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite serialises writers instead
def test_run_finished_between_check_and_write_writes_nothing(app, client, auth, rid, backend, monkeypatch):
    """The one-statement write re-checks the run under its lock (PostgreSQL's path)."""
    from tether_server.access import Principal
    from tether_server.errors import FailedPrecondition
    from tether_server.services.tracking import runs as svc

    assert client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth).status_code == 200
    real, calls = svc.writable_run, []

    def first_check_passes(session, actor, run_id, **kw):  # as if the run finished just after the check
        calls.append(run_id)
        return None if len(calls) == 1 else real(session, actor, run_id, **kw)

    monkeypatch.setattr(svc, "writable_run", first_check_passes)
    with Runtime.of(app).database.session(write=False) as s, pytest.raises(FailedPrecondition):
        svc.log_points(s, Principal(id=0, name="root", role="admin"), rid, [{"key": "late", "value": 1.0}])
    assert len(calls) == 2
    assert client.get(f"/api/v1/runs/{rid}/metrics/late", headers=auth).json["items"] == []
    assert _latest(client, auth, rid, "late") is None
