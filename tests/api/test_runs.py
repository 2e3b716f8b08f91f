from __future__ import annotations

import json

import pytest

from tests.api.helpers import assert_error, new_experiment, new_run
from tests.conftest import bearer


@pytest.fixture
def exp(client, auth):
    return new_experiment(client, auth, "churn")


def test_run_lifecycle(client, auth, exp):
    rid = new_run(client, auth, exp, name="xgb", tags={"team": "growth"}, start_time=1000)
    run = client.get(f"/api/v1/runs/{rid}", headers=auth).json
    assert run["status"] == "RUNNING" and run["start_time"] == 1000 and run["tags"] == {"team": "growth"}
    r = client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth)
    assert r.status_code == 200 and r.json["status"] == "FINISHED" and r.json["end_time"] >= 1000
    # a finished run refuses new data and going back to RUNNING
    assert_error(
        client.post(f"/api/v1/runs/{rid}/batch", json={"params": {"a": "1"}}, headers=auth),
        409,
        "FAILED_PRECONDITION",
    )
    assert_error(
        client.patch(f"/api/v1/runs/{rid}", json={"status": "RUNNING"}, headers=auth),
        409,
        "FAILED_PRECONDITION",
    )
    assert (
        client.patch(f"/api/v1/runs/{rid}", json={"name": "renamed"}, headers=auth).json["name"] == "renamed"
    )


def test_deleted_run_refuses_writes(client, auth, exp):
    rid = new_run(client, auth, exp)
    assert client.delete(f"/api/v1/runs/{rid}", headers=auth).json["lifecycle"] == "deleted"
    assert_error(
        client.post(f"/api/v1/runs/{rid}/batch", json={"tags": {"a": "1"}}, headers=auth),
        409,
        "FAILED_PRECONDITION",
    )
    assert client.post(f"/api/v1/runs/{rid}/restore", headers=auth).json["lifecycle"] == "active"


def test_parent_run(client, auth, exp):
    parent = new_run(client, auth, exp)
    child = new_run(client, auth, exp, parent_run_id=parent)
    assert client.get(f"/api/v1/runs/{child}", headers=auth).json["parent_run_id"] == parent
    other = new_experiment(client, auth, "other")
    r = client.post("/api/v1/runs", json={"experiment_id": other, "parent_run_id": parent}, headers=auth)
    assert_error(r, 400, "INVALID_ARGUMENT")


def test_params_are_immutable(client, auth, exp):
    rid = new_run(client, auth, exp)
    ok = client.post(f"/api/v1/runs/{rid}/batch", json={"params": {"lr": 0.1, "depth": 6}}, headers=auth)
    assert ok.status_code == 200
    same = client.post(f"/api/v1/runs/{rid}/batch", json={"params": {"lr": 0.1}}, headers=auth)
    assert same.status_code == 200
    err = assert_error(
        client.post(f"/api/v1/runs/{rid}/batch", json={"params": {"lr": 0.2}}, headers=auth),
        409,
        "ALREADY_EXISTS",
    )
    assert err["details"]["key"] == "lr"
    assert client.get(f"/api/v1/runs/{rid}", headers=auth).json["params"] == {"lr": "0.1", "depth": "6"}


def test_tags_last_write_wins(client, auth, exp):
    rid = new_run(client, auth, exp)
    for v in ("a", "b"):
        assert (
            client.post(f"/api/v1/runs/{rid}/batch", json={"tags": {"t": v}}, headers=auth).status_code == 200
        )
    assert client.get(f"/api/v1/runs/{rid}", headers=auth).json["tags"] == {"t": "b"}


def test_batch_is_atomic(client, auth, exp):
    rid = new_run(client, auth, exp)
    client.post(f"/api/v1/runs/{rid}/batch", json={"params": {"p": "1"}}, headers=auth)
    bad = {
        "params": {"q": "2", "p": "changed"},
        "tags": {"t": "x"},
        "metrics": [{"key": "m", "value": 1.0, "step": 0}],
    }
    assert_error(client.post(f"/api/v1/runs/{rid}/batch", json=bad, headers=auth), 409, "ALREADY_EXISTS")
    bad2 = {"params": {"q": "2"}, "metrics": [{"key": "m", "value": 1.0}, {"key": "m", "value": "oops"}]}
    err = assert_error(
        client.post(f"/api/v1/runs/{rid}/batch", json=bad2, headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert err["details"]["index"] == 1
    run = client.get(f"/api/v1/runs/{rid}", headers=auth).json
    assert run["params"] == {"p": "1"} and run["tags"] == {} and run["metrics"] == {}
    assert client.get(f"/api/v1/runs/{rid}/metrics/m", headers=auth).json["items"] == []


def test_batch_idempotency_key_replays(client, auth, exp):
    rid = new_run(client, auth, exp)
    body = {"metrics": [{"key": "loss", "value": float(i), "step": i, "timestamp": 5} for i in range(10)]}
    h = {**auth, "Idempotency-Key": "k-123"}
    first = client.post(f"/api/v1/runs/{rid}/batch", json=body, headers=h)
    again = client.post(f"/api/v1/runs/{rid}/batch", json=body, headers=h)
    assert first.status_code == again.status_code == 200 and first.json == again.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(client.get(f"/api/v1/runs/{rid}/metrics/loss", headers=auth).json["items"]) == 10


def test_batch_limits(client, auth, exp):
    rid = new_run(client, auth, exp)
    ok = {"metrics": [{"key": "m", "value": 1.0, "step": i} for i in range(10_000)]}
    assert client.post(f"/api/v1/runs/{rid}/batch", json=ok, headers=auth).json["metrics"] == 10_000
    too_many = {"metrics": [{"key": "m", "value": 1.0, "step": i} for i in range(10_001)]}
    assert_error(
        client.post(f"/api/v1/runs/{rid}/batch", json=too_many, headers=auth), 400, "INVALID_ARGUMENT"
    )


def test_nonfinite_values_round_trip(client, auth, exp):
    rid = new_run(client, auth, exp)
    pts = [
        {"key": "v", "value": x, "step": i, "timestamp": 1}
        for i, x in enumerate(["NaN", "Infinity", "-Infinity", 1.5, 1e308, -2.5])
    ]
    assert client.post(f"/api/v1/runs/{rid}/batch", json={"metrics": pts}, headers=auth).status_code == 200
    items = client.get(f"/api/v1/runs/{rid}/metrics/v", headers=auth).json["items"]
    assert [p["value"] for p in items] == ["NaN", "Infinity", "-Infinity", 1.5, 1e308, -2.5]
    latest = client.get(f"/api/v1/runs/{rid}", headers=auth).json["metrics"]["v"]
    assert latest["step"] == 5


def test_latest_metric_is_highest_step(client, auth, exp):
    rid = new_run(client, auth, exp)
    pts = [
        {"key": "acc", "value": 0.9, "step": 5, "timestamp": 10},
        {"key": "acc", "value": 0.1, "step": 2, "timestamp": 99},
    ]
    client.post(f"/api/v1/runs/{rid}/batch", json={"metrics": pts}, headers=auth)
    client.post(
        f"/api/v1/runs/{rid}/batch", json={"metrics": [{"key": "acc", "value": 0.2, "step": 3}]}, headers=auth
    )
    assert client.get(f"/api/v1/runs/{rid}", headers=auth).json["metrics"]["acc"]["value"] == 0.9


@pytest.mark.parametrize(
    "body",
    [
        {"metrics": "x"},
        {"metrics": [{"value": 1}]},
        {"metrics": [{"key": "a b/../c", "value": 1}]},
        {"metrics": [{"key": "k", "value": True}]},
        {"metrics": [{"key": "k", "value": 1, "step": 1.5}]},
        {"metrics": [{"key": "k", "value": 1, "timestamp": -1}]},
        {"metrics": [{"key": "k", "value": 1, "step": 2**64}]},
        {"params": {"k": {"nested": 1}}},
        {"params": [1]},
        {"tags": {"": "x"}},
        {"unknown": 1},
        {"params": {"k": "x" * 9000}},
        {"metrics": [{"key": "/abs", "value": 1}]},
        {"metrics": [None]},
    ],
)
def test_bad_batches_are_400(client, auth, exp, body):
    rid = new_run(client, auth, exp)
    r = client.post(
        f"/api/v1/runs/{rid}/batch", data=json.dumps(body), content_type="application/json", headers=auth
    )
    assert_error(r, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("raw", [b"{", b"[1,2]", b"null", b"\xff\xfe", b'{"metrics": [1e999999]}'])
def test_malformed_json_is_400(client, auth, exp, raw):
    rid = new_run(client, auth, exp)
    r = client.post(
        f"/api/v1/runs/{rid}/batch", data=raw, headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_ARGUMENT"


def test_unknown_run_is_404(client, auth):
    assert_error(client.get("/api/v1/runs/" + "0" * 32, headers=auth), 404, "NOT_FOUND")
    assert_error(client.post("/api/v1/runs/nope/batch", json={}, headers=auth), 404, "NOT_FOUND")
    assert_error(client.post("/api/v1/runs", json={"experiment_id": 424242}, headers=auth), 404, "NOT_FOUND")


def test_run_json_matches_the_documented_schema(client, auth, exp):
    from tether_server.schemas.runs import RunSchema

    rid = new_run(client, auth, exp, tags={"a": "b"})
    client.post(
        f"/api/v1/runs/{rid}/batch", json={"metrics": [{"key": "m", "value": "Infinity"}]}, headers=auth
    )
    for body in (
        client.get(f"/api/v1/runs/{rid}", headers=auth).json,
        client.post("/api/v1/runs/search", json={"experiment_ids": [exp]}, headers=auth).json["items"][0],
    ):
        assert set(body) == set(RunSchema._declared_fields)
        assert body["metrics"]["m"]["value"] == "Infinity" and body["tags"] == {"a": "b"}


def test_create_run_with_initial_params_and_metrics(client, auth, exp):
    r = client.post(
        "/api/v1/runs",
        headers=auth,
        json={
            "experiment_id": exp,
            "name": "one-shot",
            "params": {"lr": 0.1},
            "tags": {"t": "1"},
            "metrics": [{"key": "auc", "value": 0.9, "step": 1}, {"key": "auc", "value": 0.95, "step": 2}],
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["params"] == {"lr": "0.1"} and r.json["metrics"]["auc"]["value"] == 0.95
    got = client.get(f"/api/v1/runs/{r.json['id']}", headers=auth).json
    assert got["params"] == {"lr": "0.1"} and got["tags"] == {"t": "1"} and got["metrics"]["auc"]["step"] == 2
    assert len(client.get(f"/api/v1/runs/{r.json['id']}/metrics/auc", headers=auth).json["items"]) == 2


def test_create_run_with_bad_initial_data_creates_nothing(client, auth, exp):
    for bad in ({"params": ["x"]}, {"metrics": [{"key": "auc", "value": "high"}]}, {"params": {"../x": "1"}}):
        r = client.post("/api/v1/runs", json={"experiment_id": exp, "name": "nope", **bad}, headers=auth)
        assert_error(r, 400, "INVALID_ARGUMENT")
    assert (
        client.post("/api/v1/runs/search", json={"experiment_ids": [exp]}, headers=auth).json["items"] == []
    )


FULL_CREATE = {
    "params": {f"p{i}": str(i) for i in range(5)},
    "tags": {"t": "1"},
    "metrics": [{"key": f"m{i}", "value": i / 7, "step": 0} for i in range(5)],
}


def _stored(db_session, exp):
    """What the database holds for the experiment's runs: run ids, and rows per data table."""
    from sqlalchemy import func, select

    from tether_server.models import LatestMetric, Metric, Param, Run, RunTag

    runs = db_session.scalars(select(Run.id).where(Run.experiment_id == exp)).all()
    counts = {
        t.__tablename__: db_session.scalar(select(func.count()).select_from(t))
        for t in (Param, RunTag, Metric, LatestMetric)
    }
    return runs, counts


NOTHING = {"params": 0, "run_tags": 0, "metrics": 0, "latest_metrics": 0}


@pytest.mark.parametrize(
    "refusal, status, code",
    [
        ("no_grant", 404, "NOT_FOUND"),
        ("read_grant", 403, "PERMISSION_DENIED"),
        ("group_read_grant", 403, "PERMISSION_DENIED"),
        ("deleted_experiment", 409, "FAILED_PRECONDITION"),
        ("unknown_experiment", 404, "NOT_FOUND"),
    ],
)
def test_a_refused_full_create_stores_nothing(
    client, auth, exp, users, admin_token, db_session, refusal, status, code
):
    """A run created with 5 params, a tag and 5 points is written whole or not at all (one statement
    on PostgreSQL, in autocommit): each refusal answers its error and leaves no run, param, tag,
    point or latest value behind."""
    uid, token = users.create("outsider", "writer")
    headers, target = bearer(token), exp
    grant = {"resource_type": "experiment", "resource_id": str(exp), "level": "READ"}
    if refusal == "read_grant":
        assert (
            client.put("/api/v1/permissions", json={**grant, "user_id": uid}, headers=auth).status_code == 200
        )
    elif refusal == "group_read_grant":
        admin = bearer(admin_token)
        assert client.post("/api/v1/groups", json={"name": "lookers"}, headers=admin).status_code == 201
        assert client.put("/api/v1/groups/lookers/members/outsider", headers=admin).status_code == 200
        assert (
            client.put("/api/v1/permissions", json={**grant, "group": "lookers"}, headers=auth).status_code
            == 200
        )
    elif refusal == "deleted_experiment":
        assert client.delete(f"/api/v1/experiments/{exp}", headers=auth).status_code in (200, 204)
        headers = auth  # the owner: only the experiment's state refuses
    elif refusal == "unknown_experiment":
        headers, target = auth, exp + 1000
    r = client.post("/api/v1/runs", json={"experiment_id": target, **FULL_CREATE}, headers=headers)
    assert_error(r, status, code)
    assert _stored(db_session, exp) == ([], NOTHING)


def test_a_create_refused_by_its_statement_stores_nothing_even_if_the_explanation_passes(
    client, auth, exp, users, db_session, monkeypatch
):
    """The grant check is in the run's INSERT; if the follow-up query that explains a refusal finds
    nothing wrong (the grant changed in between), the caller gets a 404 and nothing was written."""
    from tether_server.services.tracking import experiments

    _uid, token = users.create("outsider", "writer")
    explained = []
    monkeypatch.setattr(experiments, "check_writable", lambda s, actor, eid: explained.append(eid))
    r = client.post("/api/v1/runs", json={"experiment_id": exp, **FULL_CREATE}, headers=bearer(token))
    assert_error(r, 404, "NOT_FOUND")
    assert explained == [exp]
    assert _stored(db_session, exp) == ([], NOTHING)


def test_a_group_edit_grant_creates_the_run_with_its_data(client, auth, exp, users, admin_token, db_session):
    _uid, token = users.create("outsider", "writer")
    admin = bearer(admin_token)
    assert client.post("/api/v1/groups", json={"name": "trainers"}, headers=admin).status_code == 201
    assert client.put("/api/v1/groups/trainers/members/outsider", headers=admin).status_code == 200
    grant = {"resource_type": "experiment", "resource_id": str(exp), "level": "EDIT", "group": "trainers"}
    assert client.put("/api/v1/permissions", json=grant, headers=auth).status_code == 200
    made = client.post("/api/v1/runs", json={"experiment_id": exp, **FULL_CREATE}, headers=bearer(token))
    assert made.status_code == 201, made.json
    assert _stored(db_session, exp) == (
        [made.json["id"]],
        {"params": 5, "run_tags": 1, "metrics": 5, "latest_metrics": 5},
    )
    got = client.get(f"/api/v1/runs/{made.json['id']}", headers=auth).json
    assert got["params"] == FULL_CREATE["params"] and got["tags"] == {"t": "1"}
    assert {k: v["value"] for k, v in got["metrics"].items()} == {f"m{i}": i / 7 for i in range(5)}


@pytest.mark.parametrize(
    "parts", ["", "params", "tags", "metrics", "params,tags", "params,metrics", "tags,metrics"]
)
def test_each_shape_of_a_create_and_a_batch_stores_what_it_carries(client, auth, exp, db_session, parts):
    """The PostgreSQL statements carry only the parts a request has: every combination stores exactly
    its params, tags and points, on creation and in a batch to the created run."""
    given = {k: FULL_CREATE[k] for k in parts.split(",") if k}
    made = client.post("/api/v1/runs", json={"experiment_id": exp, **given}, headers=auth)
    assert made.status_code == 201, made.json
    rid = made.json["id"]
    n = {"params": 5 if "params" in given else 0, "run_tags": 1 if "tags" in given else 0}
    n |= {"metrics": 5 if "metrics" in given else 0, "latest_metrics": 5 if "metrics" in given else 0}
    assert _stored(db_session, exp) == ([rid], n)
    again = {**given, "tags": {"t": "2"}} if "tags" in given else given  # params repeat unchanged
    if "metrics" in given:
        again["metrics"] = [{**m, "step": 1} for m in FULL_CREATE["metrics"]]
    r = client.post(f"/api/v1/runs/{rid}/batch", json=again, headers=auth)
    assert r.status_code == 200, r.json
    assert r.json == {
        "metrics": len(again.get("metrics", [])),
        "params": len(given.get("params", {})),
        "tags": len(again.get("tags", {})),
    }
    db_session.rollback()
    n["metrics"] *= 2
    assert _stored(db_session, exp) == ([rid], n)
    got = client.get(f"/api/v1/runs/{rid}", headers=auth).json
    assert got["params"] == given.get("params", {}) and got["tags"] == again.get("tags", {})
    assert {k: v["step"] for k, v in got["metrics"].items()} == {
        m["key"]: 1 for m in again.get("metrics", [])
    }
