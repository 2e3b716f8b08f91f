"""Monitoring REST round trips and errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.conftest import bearer
from tether.monitoring import build_summary
from tether_server.runtime import Runtime

from .helpers import HOUR, T0, create_monitor, new_version, production_model, production_rows


def _evaluate(app: Any, now: int) -> int:
    """One pass of the app's evaluator worker (its own transaction), as of ``now``."""
    from tether_server.workers.monitoring import evaluate_once

    return evaluate_once(Runtime.of(app).database, now)


def test_monitor_crud_and_reference(app: Any, client: Any, auth: dict[str, str]) -> None:
    setup = production_model(app, client, auth)
    m = create_monitor(client, auth, columns=["age", "plan"], metric="accuracy", label_column="churned")
    assert m["model"] == "churn" and m["stage"] == "Production" and m["window_seconds"] == 3600
    assert client.get(f"/api/v1/monitors/{m['id']}", headers=auth).json["name"] == "prod"
    assert [x["id"] for x in client.get("/api/v1/monitors?model=churn", headers=auth).json["items"]] == [
        m["id"]
    ]
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    assert ref["model_version"] == setup["version"] and ref["columns"] == ["age", "plan"]
    assert set(ref["profile"]["columns"]) == {"age", "plan"} and ref["baseline"] == pytest.approx(0.9)
    r = client.patch(
        f"/api/v1/monitors/{m['id']}",
        headers=auth,
        json={"grace_seconds": 60, "thresholds": {"psi_alert": 0.3}},
    )
    assert (
        r.status_code == 200 and r.json["grace_seconds"] == 60 and r.json["thresholds"] == {"psi_alert": 0.3}
    )
    assert client.delete(f"/api/v1/monitors/{m['id']}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/monitors/{m['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "body,code",
    [
        ({"name": "x", "model": "churn"}, 400),  # neither stage nor alias
        ({"name": "x", "model": "churn", "stage": "production", "alias": "a"}, 400),
        ({"name": "x", "model": "churn", "stage": "production", "metric": "bogus"}, 400),
        ({"name": "x", "model": "churn", "stage": "production", "thresholds": {"nope": 1}}, 400),
        (
            {
                "name": "x",
                "model": "churn",
                "stage": "production",
                "thresholds": {"psi_warn": 0.5, "psi_alert": 0.2},
            },
            400,
        ),
        (
            {
                "name": "x",
                "model": "churn",
                "stage": "production",
                "reference": {"dataset_version_id": 99999},
            },
            400,
        ),
        ({"name": "x", "model": "nope", "stage": "production"}, 404),
        ({"name": "x", "model": "churn", "stage": "production", "window_seconds": 1}, 400),
    ],
)
def test_create_errors(app: Any, client: Any, auth: dict[str, str], body: dict[str, Any], code: int) -> None:
    production_model(app, client, auth)
    r = client.post("/api/v1/monitors", headers=auth, json=body)
    assert r.status_code == code, r.json
    assert set(r.json["error"]) >= {"code", "message"}


def test_windows_rows_drift_histogram(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    rng = np.random.default_rng(1)
    rows = production_rows(rng, 2000, shift=0.6)
    summary = build_summary(ref["profile"], [{k: v for k, v in r.items() if k != "timestamp"} for r in rows])
    url = f"/api/v1/monitors/{m['id']}/windows"
    body = {"reference_id": ref["reference_id"], "window_start": T0, "source": "pod-1", "summary": summary}
    r = client.post(url, headers={**auth, "Idempotency-Key": "k1"}, json=body)
    assert r.status_code == 200, r.json
    again = client.post(url, headers={**auth, "Idempotency-Key": "k1"}, json=body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    # raw rows for the next window, binned by the server
    r = client.post(
        f"/api/v1/monitors/{m['id']}/rows",
        headers=auth,
        json={"rows": production_rows(rng, 1000, ts=T0 + HOUR + 5)},
    )
    assert r.status_code == 200 and r.json["windows"] == [{"window_start": T0 + HOUR, "rows": 1000}]
    d = client.get(f"/api/v1/monitors/{m['id']}/drift?from={T0}", headers=auth).json
    w0, w1 = d["windows"]
    assert w0["window_start"] == T0 and w0["n"] == 2000 and w0["partial"] is False  # end + grace passed
    age = w0["columns"]["age"]
    assert (
        age["psi"] > 0.2
        and age["status"] == "alert"
        and {"js", "ks", "wasserstein", "n", "null_rate"} <= set(age)
    )
    assert w1["n"] == 1000 and w1["columns"]["age"]["status"] == "ok"
    h = client.get(f"/api/v1/monitors/{m['id']}/windows/{T0}/histogram?column=age", headers=auth).json
    live = client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": [{"age": 1.0}]}).json
    now_ws = live["windows"][0]["window_start"]
    d_now = client.get(f"/api/v1/monitors/{m['id']}/drift?from={now_ws}", headers=auth).json
    assert [(w["window_start"], w["partial"]) for w in d_now["windows"]] == [(now_ws, True)]
    assert len(h["buckets"]) == len(h["reference"]) == len(h["window"]) == len(h["window_counts"]) == 14
    assert sum(h["window"]) == pytest.approx(1.0) and sum(h["reference"]) == pytest.approx(1.0)
    # the evaluator closes both windows (end + grace passed) and opens one drift alert for age
    assert _evaluate(app, T0 + 3 * HOUR) == 3  # the two closed windows and the live (dirty, still open) one
    d = client.get(f"/api/v1/monitors/{m['id']}/drift?from={T0}&to={T0 + 2 * HOUR}", headers=auth).json
    assert [w["partial"] for w in d["windows"]] == [False, False]
    alerts = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    assert [(a["rule"], a["column"]) for a in alerts] == [("drift", "age")]
    assert (
        "'age'" in alerts[0]["message"]
        and "PSI" in alerts[0]["message"]
        and "since 2026-01-01 00:00 UTC" in alerts[0]["message"]
    )


@pytest.mark.parametrize(
    "path,body,code",
    [
        ("windows", {"reference_id": 1, "window_start": T0 + 1, "source": "a", "summary": {}}, 400),
        ("windows", {"reference_id": 1, "window_start": T0, "source": "", "summary": {}}, 400),
        ("windows", {"reference_id": 1, "window_start": T0, "source": "a", "summary": {"format": "x"}}, 400),
        (
            "windows",
            {
                "reference_id": 1,
                "window_start": T0,
                "source": "a",
                "summary": {"format": "tether.window/1", "n": -1, "columns": {}},
            },
            400,
        ),
        ("rows", {"rows": []}, 400),
        ("rows", {"rows": [1]}, 400),
        ("rows", {"rows": [{"age": 1, "timestamp": "x"}]}, 400),
        ("rows", {"rows": [{"age": 1}] * 10_001}, 400),
        ("labels", {"labels": [{"prediction_id": "a", "label": 1}]}, 409),  # no label column
        ("labels", {"window_start": T0, "source": "a", "performance": {"format": "nope"}}, 400),
    ],
)
def test_post_errors(
    app: Any, client: Any, auth: dict[str, str], path: str, body: dict[str, Any], code: int
) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    if "reference_id" in body:
        body = {**body, "reference_id": ref["reference_id"]}
    r = client.post(f"/api/v1/monitors/{m['id']}/{path}", headers=auth, json=body)
    assert r.status_code == code, r.json
    assert r.json["error"]["code"] in ("INVALID_ARGUMENT", "FAILED_PRECONDITION")


def test_version_change_new_reference_and_stale_409(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    ref1 = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    v2 = new_version(app, client, auth, "churn", seed=7)
    summary = build_summary(ref1["profile"], [{"age": 40.0, "income": 20000.0, "plan": "pro"}])
    body = {"reference_id": ref1["reference_id"], "window_start": T0, "source": "pod", "summary": summary}
    r = client.post(f"/api/v1/monitors/{m['id']}/windows", headers=auth, json=body)
    assert r.status_code == 409 and r.json["error"]["code"] == "FAILED_PRECONDITION"
    current = r.json["error"]["details"]["reference"]
    assert current["model_version"] == v2 and current["reference_id"] != ref1["reference_id"]
    summary = build_summary(current["profile"], [{"age": 40.0, "income": 20000.0, "plan": "pro"}])
    body = {**body, "reference_id": current["reference_id"], "summary": summary}
    assert client.post(f"/api/v1/monitors/{m['id']}/windows", headers=auth, json=body).status_code == 200
    d = client.get(f"/api/v1/monitors/{m['id']}/drift", headers=auth).json
    assert [c["model_version"] for c in d["reference_changes"]] == [1, v2]
    assert d["windows"][0]["model_version"] == v2


def test_reference_read_records_a_new_reference_while_others_write(
    app: Any, client: Any, auth: dict[str, str], monkeypatch: Any
) -> None:
    """After a version change, ``GET /reference`` adds the new reference row. Another connection
    commits between the GET's first read and that row (a busy server): SQLite cannot turn a read
    transaction into a write once another writer committed, so the row is written in a unit of its
    own, and the GET answers 200 with the new reference (it answered 503 "database unavailable")."""
    from sqlalchemy import text

    from tether_server.api import monitors as api

    production_model(app, client, auth)
    m = create_monitor(client, auth)
    ref1 = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    v2 = new_version(app, client, auth, "churn", seed=7)
    original, calls = api.svc.get_monitor, []

    def get_then_someone_writes(session: Any, actor: Any, monitor_id: int) -> Any:
        got = original(session, actor, monitor_id)
        if not calls:
            with Runtime.of(app).database.transaction() as other:
                other.execute(text("UPDATE monitors SET name = name WHERE id = :id"), {"id": monitor_id})
        calls.append(monitor_id)
        return got

    monkeypatch.setattr(api.svc, "get_monitor", get_then_someone_writes)
    r = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth)
    assert r.status_code == 200, r.json
    assert r.json["model_version"] == v2 and r.json["reference_id"] != ref1["reference_id"]
    again = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    assert again["reference_id"] == r.json["reference_id"]  # recorded once, then read


def test_permissions_and_scoped_token(app: Any, client: Any, auth: dict[str, str], users: Any) -> None:
    setup = production_model(app, client, auth)
    m = create_monitor(client, auth)
    other = bearer(users.create("mallory", "writer")[1])
    assert client.get(f"/api/v1/monitors/{m['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/monitors", headers=other).json["items"] == []
    # a deployment account: viewer with READ on the model
    uid, plain = users.create("deployer", "viewer")
    r = client.put(
        "/api/v1/permissions",
        headers=auth,
        json={
            "user_id": uid,
            "resource_type": "model",
            "resource_id": str(setup["model"]["id"]),
            "level": "READ",
        },
    )
    assert r.status_code in (200, 201), r.json
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=bearer(plain)).json
    body = {
        "reference_id": ref["reference_id"],
        "window_start": T0,
        "source": "pod",
        "summary": build_summary(ref["profile"], [{"age": 30.0, "income": 1.0, "plan": "pro"}]),
    }
    # READ alone is not enough to post
    assert (
        client.post(f"/api/v1/monitors/{m['id']}/windows", headers=bearer(plain), json=body).status_code
        == 403
    )
    r = client.post(
        "/api/v1/tokens", headers=bearer(plain), json={"name": "deploy", "scopes": ["monitoring"]}
    )
    assert r.status_code == 201 and r.json["scopes"] == ["monitoring"]
    scoped = bearer(r.json["token"])
    assert client.post(f"/api/v1/monitors/{m['id']}/windows", headers=scoped, json=body).status_code == 200
    # ... and nothing else
    assert client.get(f"/api/v1/monitors/{m['id']}/drift", headers=scoped).status_code == 403
    assert client.get("/api/v1/experiments", headers=scoped).status_code == 403
    assert (
        client.post("/api/v1/tokens", headers=auth, json={"name": "x", "scopes": ["admin"]}).status_code
        == 400
    )
