"""Domain events: one ``publish()`` writes the audit row and the webhook outbox rows in the caller's
transaction; transition ids are ``transition_id``; adding an event type is one class; one
``can_decide`` rule serves the API and the review page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import bearer
from tests.registry.helpers import create_model, register, request_stage, reviewer, training_run
from tether_server.access import Principal
from tether_server.models import AuditEvent
from tether_server.models.registry import TransitionRequest, WebhookDelivery
from tether_server.runtime import Runtime
from tether_server.services.events import WEBHOOK_EVENTS, Event, publish, webhooks
from tether_server.services.events import types as ev
from tether_server.services.registry import transitions


@pytest.fixture
def settings_overrides():
    return {"webhook_allowlist": "127.0.0.1/32"}


def _subscribe(client, admin, events):
    r = client.post(
        "/api/v1/webhooks",
        headers=admin,
        json={"url": "http://127.0.0.1:9/hook", "events": events, "secret": "s" * 20},
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def _payloads(app) -> list[dict[str, Any]]:
    with Runtime.of(app).database.session(write=False) as s:
        rows = s.scalars(select(WebhookDelivery.payload).order_by(WebhookDelivery.id)).all()
    return [json.loads(p) for p in rows]


def test_a_reviewed_promotion_keys_every_row_and_payload_by_transition_id(
    app, client, auth, users, admin_token, backend
):
    admin = bearer(admin_token)
    _subscribe(client, admin, ["*"])
    model = create_model(client, auth)
    register(client, auth, "churn", training_run(client, auth))
    req = request_stage(client, auth, "churn", 1, "Production")  # needs one approval by default
    rev_id, rev = reviewer(users, "rita")
    assert client.put(
        "/api/v1/permissions",
        headers=auth,
        json={"user_id": rev_id, "resource_type": "model", "resource_id": str(model["id"]), "level": "READ"},
    ).status_code in (200, 201)
    # the one four-eyes rule: the requester may not decide, a reviewer may (once)
    with Runtime.of(app).database.session(write=False) as s:
        row = s.get(TransitionRequest, req["id"])
        requester = Principal(id=row.requested_by, name="wendy", role="writer")
        rita = Principal(id=rev_id, name="rita", role="reviewer")
        assert not transitions.can_decide(s, requester, row)
        assert transitions.can_decide(s, rita, row)
        assert str(transitions.decision_refusal(s, requester, row)).startswith("Only reviewers")
    r = client.post(f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": "ok"}, headers=rev)
    assert r.status_code == 200 and r.json["status"] == "approved"

    items = client.get("/api/v1/audit?model=churn", headers=admin).json["items"]
    by_action = {e["action"]: e for e in items}
    for action in (
        "model.transition_requested",
        "model.transition_approval_added",
        "model.transition_approved",
        "model.stage_changed",
    ):
        details = by_action[action]["details"]
        assert details["transition_id"] == req["id"], action
        assert "request" not in details and "request_id" not in details, action
    stage = by_action["model.stage_changed"]
    assert (stage["from_value"], stage["to_value"]) == ("None", "Production")
    assert by_action["model.transition_approved"]["actor_name"] == "rita"

    sent = _payloads(app)
    assert [p["event"] for p in sent] == [
        "model_version.created",
        "transition.requested",
        "transition.approved",
        "stage.changed",
    ]
    assert sent[0]["data"] | {"run_id": None} == {
        "model": "churn",
        "actor": "wendy",
        "version": 1,
        "run_id": None,
        "stage": "None",
    }
    requested = sent[1]["data"]
    assert requested["transition_id"] == requested["request_id"] == req["id"]
    assert (requested["from_stage"], requested["to_stage"], requested["status"]) == (
        "None",
        "Production",
        "pending",
    )
    assert sent[3]["data"]["transition_id"] == req["id"] and sent[3]["data"]["to_stage"] == "Production"


def test_publish_writes_audit_and_outbox_in_the_callers_transaction(app, client, admin_token, backend):
    _subscribe(client, bearer(admin_token), ["alias.changed"])
    db = Runtime.of(app).database
    event = ev.AliasChanged(
        actor=None, model_id=7, model="m", alias="champion", version=3, previous_version=None, request_id="r1"
    )

    def counts() -> tuple[int, int]:
        with db.session(write=False) as s:
            audits = s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.model_name == "m")
            )
            outbox = s.scalar(select(func.count()).select_from(WebhookDelivery))
        return audits, outbox

    with db.session() as s:
        publish(s, event)
        s.flush()
        s.rollback()
    assert counts() == (0, 0)
    with db.session() as s:
        row = publish(s, event)
        s.commit()
        assert (row.action, row.resource_type, row.resource_id, row.to_value, row.request_id) == (
            "model.alias_changed",
            "model",
            "7",
            "3",
            "r1",
        )
        assert row.details == {"alias": "champion", "version": 3}
    assert counts() == (1, 1)


def test_webhook_event_names_keep_their_public_order():
    # Registered in class-definition order across the ``types`` package's domain modules; clients
    # see this order (subscription errors, the admin page).
    assert WEBHOOK_EVENTS == [
        "model_version.created",
        "transition.requested",
        "transition.approved",
        "transition.rejected",
        "stage.changed",
        "alias.changed",
        "alert.opened",
        "alert.acknowledged",
        "alert.resolved",
        "retrain.requested",
        "abtest.started",
        "abtest.stopped",
        "abtest.decided",
    ]


def test_a_new_event_type_is_one_class(app, client, admin_token, backend):
    known = list(WEBHOOK_EVENTS)
    assert "canary.raised" not in known

    class CanaryRaised(Event):
        action = "canary.raised"
        webhook = "canary.raised"
        canary_id: int

        @property
        def resource_id(self) -> str | int:
            return self.canary_id

        def details(self) -> dict[str, Any]:
            return {"canary_id": self.canary_id}

        def data(self) -> dict[str, Any]:
            return {"canary_id": self.canary_id}

    try:
        assert "canary.raised" in webhooks.EVENTS  # subscribable by being defined
        _subscribe(client, bearer(admin_token), ["canary.raised"])
        with Runtime.of(app).database.session() as s:
            row = publish(s, CanaryRaised(actor=None, canary_id=5))
            s.commit()
            assert (row.action, row.resource_id, row.details) == ("canary.raised", "5", {"canary_id": 5})
        (sent,) = _payloads(app)
        assert sent["event"] == "canary.raised" and sent["data"] == {
            "model": None,
            "actor": None,
            "canary_id": 5,
        }
    finally:
        WEBHOOK_EVENTS[:] = known  # the test type must not stay subscribable
