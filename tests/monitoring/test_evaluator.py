"""Evaluator: alerts open once, deduplicate, auto-resolve after 2 clean windows; audit rows and
webhook outbox entries; decay -> retrain.requested; prediction-id retention; replicas merge."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tether.monitoring import build_summary, merge
from tether_server.models import AuditEvent
from tether_server.models.monitoring import MonitorPrediction, MonitorWindowResult
from tether_server.models.registry import WebhookDelivery
from tether_server.runtime import Runtime

from .helpers import HOUR, T0, create_monitor, production_model, production_rows
from .test_api import _evaluate


def _subscribe(client: Any, admin: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={
            "url": "http://127.0.0.1:9/hook",
            "events": ["alert.opened", "alert.resolved", "retrain.requested"],
        },
    )
    assert r.status_code == 201, r.json


def _rows(
    client: Any, auth: dict[str, str], mid: int, rng: Any, ws: int, shift: float, n: int = 1000
) -> None:
    r = client.post(
        f"/api/v1/monitors/{mid}/rows",
        headers=auth,
        json={"rows": production_rows(rng, n, shift=shift, ts=ws)},
    )
    assert r.status_code == 200, r.json


def test_alert_dedup_auto_resolve_audit_and_outbox(
    app: Any, client: Any, auth: dict[str, str], admin_token: str, users: Any
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    production_model(app, client, auth)
    _subscribe(client, admin)
    m = create_monitor(client, auth)
    rng = np.random.default_rng(3)
    for k, shift in enumerate([0.8, 0.8, 0.8, 0.0, 0.0]):
        _rows(client, auth, m["id"], rng, T0 + k * HOUR, shift)
        _evaluate(app, T0 + (k + 2) * HOUR)
        alerts = client.get(f"/api/v1/alerts?monitor={m['id']}", headers=auth).json["items"]
        drift = [a for a in alerts if a["rule"] == "drift" and a["column"] == "age"]
        assert len(drift) == 1  # deduplicated across the bad windows
        if k < 4:
            assert drift[0]["status"] == "open" and drift[0]["first_window"] == T0
        else:
            assert drift[0]["status"] == "resolved" and drift[0]["resolved_by"] == "tether-monitor"
    assert drift[0]["last_window"] == T0 + 2 * HOUR
    with Runtime.of(app).database.session(write=False) as s:
        actions = [
            a for (a,) in s.execute(select(AuditEvent.action).where(AuditEvent.action.like("alert.%")))
        ]
        hooks = [e for (e,) in s.execute(select(WebhookDelivery.event))]
    assert actions.count("alert.opened") == 1 and actions.count("alert.resolved") == 1
    assert hooks.count("alert.opened") == 1 and hooks.count("alert.resolved") == 1
    # a late post into a closed window re-evaluates it (and a new drift alert opens: it is bad again)
    _rows(client, auth, m["id"], rng, T0 + 4 * HOUR, 1.5, n=3000)
    assert _evaluate(app, T0 + 7 * HOUR) == 1
    open_ = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    assert any(a["rule"] == "drift" and a["column"] == "age" for a in open_)


def test_acknowledge_resolve_needs_reviewer(app: Any, client: Any, auth: dict[str, str], users: Any) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    _rows(client, auth, m["id"], np.random.default_rng(4), T0, 0.8)
    _evaluate(app, T0 + 2 * HOUR)
    alert = client.get("/api/v1/alerts?status=open", headers=auth).json["items"][0]
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=auth, json={}).status_code == 403
    rid, rtok = users.create("rita", "reviewer")
    from tests.conftest import bearer
    from tests.registry.helpers import grant

    grant(client, auth, rid, m["id"] and alert["model_id"], "READ")
    rev = bearer(rtok)
    r = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=rev, json={"comment": "looking"})
    assert r.status_code == 200 and r.json["status"] == "acknowledged" and r.json["acknowledged_by"] == "rita"
    r = client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=rev, json={"comment": "upstream fixed"})
    assert (
        r.status_code == 200
        and r.json["status"] == "resolved"
        and r.json["resolve_comment"] == "upstream fixed"
    )
    assert client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=rev, json={}).status_code == 409
    assert client.get("/api/v1/alerts/999999", headers=rev).status_code == 404


def _perf(acc: float, n: int, rng: Any) -> dict[str, Any]:
    correct = int(rng.binomial(n, acc))
    tp, tn = correct // 2, correct - correct // 2
    wrong = n - correct
    fp, fn = wrong // 2, wrong - wrong // 2
    return {
        "format": "tether.performance/1",
        "kind": "binary",
        "threshold": 0.5,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "bins": 2,
        "pos_hist": [fn, tp],
        "neg_hist": [tn, fp],
    }


def test_decay_opens_alert_and_requests_retraining(
    app: Any, client: Any, auth: dict[str, str], admin_token: str
) -> None:
    production_model(app, client, auth, accuracy=0.9)
    _subscribe(client, {"Authorization": f"Bearer {admin_token}"})
    m = create_monitor(client, auth, metric="accuracy", retrain_on_decay=True)
    rng = np.random.default_rng(5)
    accs = [0.9] * 12 + [0.8, 0.8, 0.8]
    for k, acc in enumerate(accs):
        r = client.post(
            f"/api/v1/monitors/{m['id']}/labels",
            headers=auth,
            json={"window_start": T0 + k * HOUR, "source": "batch", "performance": _perf(acc, 1000, rng)},
        )
        assert r.status_code == 200, r.json
    _evaluate(app, T0 + (len(accs) + 1) * HOUR)
    perf = client.get(f"/api/v1/monitors/{m['id']}/performance", headers=auth).json
    statuses = [w["status"] for w in perf["windows"]]
    assert statuses[:12] == ["ok"] * 12 and statuses[13:] == ["alert", "alert"]
    assert perf["windows"][0]["baseline"] == pytest.approx(0.9)
    alerts = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    decay = [a for a in alerts if a["rule"] == "decay"]
    assert (
        len(decay) == 1 and decay[0]["first_window"] == T0 + 13 * HOUR and "accuracy" in decay[0]["message"]
    )
    with Runtime.of(app).database.session(write=False) as s:
        retrain = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "retrain.requested")))
        hooks = [e for (e,) in s.execute(select(WebhookDelivery.event))]
    assert (
        len(retrain) == 1
        and retrain[0].details["version"] == 1
        and retrain[0].details["alert_id"] == decay[0]["id"]
    )
    assert retrain[0].details["training_datasets"][0]["name"] == "churn-train-0"
    assert "retrain.requested" in hooks


def test_label_join_and_retention(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(
        client,
        auth,
        label_column="churned",
        prediction_column="score",
        metric="accuracy",
        prediction_retention_days=1,
    )
    rows = [
        {"age": 40.0, "score": 0.9 if i % 2 else 0.1, "prediction_id": f"p{i}", "timestamp": T0 + i}
        for i in range(10)
    ]
    r = client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": rows})
    assert r.json["predictions_kept"] == 10
    labels = [{"prediction_id": f"p{i}", "label": 1 if i % 2 else (1 if i == 0 else 0)} for i in range(10)]
    r = client.post(
        f"/api/v1/monitors/{m['id']}/labels",
        headers=auth,
        json={"labels": labels + [{"prediction_id": "zz", "label": 1}]},
    )
    assert r.status_code == 200 and r.json["matched"] == 10 and r.json["unmatched"] == 1
    perf = client.get(f"/api/v1/monitors/{m['id']}/performance", headers=auth).json["windows"]
    assert perf[0]["value"] == pytest.approx(0.9) and perf[0]["n"] == 10
    from tether_server.models.monitoring import Monitor
    from tether_server.services.monitoring.labels import prune_predictions

    with Runtime.of(app).database.session() as s:
        mon = s.get(Monitor, m["id"])
        created = s.scalar(select(MonitorPrediction.created_at).limit(1))
        assert prune_predictions(s, mon, created + 86_400_000 - 1) == 0
        assert prune_predictions(s, mon, created + 86_400_000 + 1) == 10
        s.commit()


def test_replicas_merge_exactly(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    rng = np.random.default_rng(6)
    parts = [
        [{k: v for k, v in r.items() if k != "timestamp"} for r in production_rows(rng, 300 + 7 * i)]
        for i in range(8)
    ]
    summaries = [build_summary(ref["profile"], p) for p in parts]
    errors: list[Any] = []

    def post(i: int) -> None:
        c = app.test_client()
        body = {
            "reference_id": ref["reference_id"],
            "window_start": T0,
            "source": f"pod-{i}",
            "summary": summaries[i],
        }
        for _attempt in range(3):  # retries with the same key: replays, never double counts
            r = c.post(
                f"/api/v1/monitors/{m['id']}/windows",
                headers={**auth, "Idempotency-Key": f"w-{i}"},
                json=body,
            )
            if r.status_code != 200:
                errors.append(r.json)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _evaluate(app, T0 + 2 * HOUR)
    oneshot = build_summary(ref["profile"], [r for p in parts for r in p])
    with Runtime.of(app).database.session(write=False) as s:
        merged = s.get(MonitorWindowResult, (m["id"], T0)).summary
    assert merged["n"] == oneshot["n"] == sum(len(p) for p in parts)
    for name, col in oneshot["columns"].items():
        got = merged["columns"][name]
        assert got["counts"] == col["counts"] and got["nulls"] == col["nulls"]
        if col["kind"] == "numeric":
            assert got["count"] == col["count"] and got["min"] == col["min"] and got["max"] == col["max"]
            assert got["mean"] == pytest.approx(col["mean"], rel=1e-9) and got["m2"] == pytest.approx(
                col["m2"], rel=1e-9
            )
    _ = merge
