"""Monitoring on the shared architecture: typed events through the one publish(), the evaluator as a
registered worker, and `tether monitors evaluate` registered through the `tether.commands` group."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from click.testing import CliRunner
from sqlalchemy import select

from tether.cli import main as tether_cli
from tether_server.models import AuditEvent
from tether_server.models.registry import WebhookDelivery
from tether_server.runtime import Runtime
from tether_server.services.events import WEBHOOK_EVENTS, types
from tether_server.workers import WORKERS, MonitorEvaluatorWorker

from .helpers import HOUR, T0, create_monitor, production_model, production_rows


def test_monitoring_events_are_typed_and_subscribable(client: Any, admin_token: str) -> None:
    for cls, name in (
        (types.AlertOpened, "alert.opened"),
        (types.AlertAcknowledged, "alert.acknowledged"),
        (types.AlertResolved, "alert.resolved"),
        (types.RetrainRequested, "retrain.requested"),
    ):
        assert issubclass(cls, types.Event) and cls.webhook == name and name in WEBHOOK_EVENTS
    admin = {"Authorization": f"Bearer {admin_token}"}
    body = {"url": "http://127.0.0.1:9/hook", "events": ["alert.opened", "retrain.requested"]}
    assert client.post("/api/v1/webhooks", headers=admin, json=body).status_code == 201
    body["events"] = ["alert.exploded"]
    assert client.post("/api/v1/webhooks", headers=admin, json=body).status_code == 400


def test_evaluator_is_a_registered_worker() -> None:
    assert MonitorEvaluatorWorker in WORKERS


def test_cli_evaluate_through_the_entry_point(
    app: Any, client: Any, auth: dict[str, str], admin_token: str, settings: Any, monkeypatch: Any
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    r = client.post("/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert r.status_code == 201
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    rows = production_rows(np.random.default_rng(5), 2000, shift=1.0, ts=T0)
    assert (
        client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": rows}).status_code == 200
    )
    monkeypatch.setenv("TETHER_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TETHER_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("TETHER_SECRET_KEY", "k" * 16)
    runner = CliRunner()
    early = runner.invoke(tether_cli, ["monitors", "evaluate", "--now", str(T0 + HOUR)])
    assert early.exit_code == 0, early.output
    assert "1 window(s) evaluated" in early.output  # computed, but still open (inside the grace period)
    assert client.get(f"/api/v1/alerts?monitor={m['id']}", headers=auth).json["items"] == []
    res = runner.invoke(tether_cli, ["monitors", "evaluate", "--now", str(T0 + 2 * HOUR)])
    assert res.exit_code == 0, res.output
    assert "1 window(s) evaluated" in res.output
    opened = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    assert any(a["rule"] == "drift" and a["column"] == "age" for a in opened)
    with Runtime.of(app).database.session(write=False) as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "alert.opened")).all()
        outbox = s.scalars(select(WebhookDelivery).where(WebhookDelivery.event == "alert.opened")).all()
    assert len(audit) == len(opened) == len(outbox) and audit[0].actor_name == "tether-monitor"
    assert audit[0].model_name == "churn"
    payload = json.loads(outbox[0].payload)
    assert payload["event"] == "alert.opened" and payload["data"]["model"] == "churn"
    assert payload["data"]["alert"]["monitor_id"] == m["id"] and payload["data"]["alert"]["rule"] == "drift"
