"""Signed webhook delivery through the outbox to a local receiver: signature, retry, log, ping, worker."""

from __future__ import annotations

import json
import time

import pytest

from tests.api.helpers import assert_error
from tests.conftest import bearer
from tests.registry.helpers import create_model, register, training_run
from tests.registry.receiver import Receiver
from tether_server.runtime import Runtime
from tether_server.services.events import webhooks
from tether_server.workers import webhooks as deliver

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def settings_overrides():
    return {"webhook_allowlist": "127.0.0.1/32", "webhook_retry_base_seconds": 0.05}


def _subscribe(client, admin, url, events=("model_version.created", "stage.changed")):
    r = client.post(
        "/api/v1/webhooks", headers=admin, json={"url": url, "events": list(events), "secret": SECRET}
    )
    assert r.status_code == 201, r.json
    return r.json


def test_delivery_is_signed_and_retried_after_one_failure(app, client, auth, admin_token, backend):
    admin = bearer(admin_token)
    with Receiver(statuses=[500, 200]) as rx:
        sub = _subscribe(client, admin, rx.url)
        assert (
            sub["secret"] == SECRET
            and "secret" not in client.get(f"/api/v1/webhooks/{sub['id']}", headers=admin).json
        )
        run_id = training_run(client, auth)
        create_model(client, auth)
        register(client, auth, "churn", run_id)
        db, settings = Runtime.of(app).database, Runtime.of(app).settings

        assert deliver.deliver_due(db, settings) == 1
        log = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=admin).json["items"]
        assert log[0]["status"] == "pending" and log[0]["attempts"] == 1
        assert log[0]["last_status_code"] == 500 and log[0]["last_error"] == "http_500"
        time.sleep(0.1)  # the backoff (0.05 s base in this test)
        assert deliver.deliver_due(db, settings) == 1
        log = client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=admin).json["items"]
        assert (
            log[0]["status"] == "delivered" and log[0]["attempts"] == 2 and log[0]["last_status_code"] == 200
        )
        assert deliver.deliver_due(db, settings) == 0

    assert len(rx.received) == 2
    headers, body = rx.received[-1]
    assert headers["X-Tether-Event"] == "model_version.created"
    assert webhooks.verify(SECRET, headers["X-Tether-Signature"], body)
    assert not webhooks.verify("wrong-secret-wrong", headers["X-Tether-Signature"], body)
    assert not webhooks.verify(SECRET, headers["X-Tether-Signature"], body + b" ")
    # Independent check of the documented scheme: HMAC-SHA256(secret, f"{t}.{body}").
    import hashlib
    import hmac

    fields = dict(p.split("=", 1) for p in headers["X-Tether-Signature"].split(","))
    expect = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert fields["v1"] == expect
    payload = json.loads(body)
    assert payload["event"] == "model_version.created" and payload["data"]["model"] == "churn"
    assert payload["data"]["version"] == 1
    assert Receiver.BODY.decode() not in json.dumps(log)


def test_ping_reports_status_without_body_and_events_filter(app, client, auth, admin_token, backend):
    admin = bearer(admin_token)
    with Receiver(statuses=[503]) as rx:
        sub = _subscribe(client, admin, rx.url, events=["stage.changed"])
        r = client.post(f"/api/v1/webhooks/{sub['id']}/ping", headers=admin)
        assert r.status_code == 200 and r.json["status"] == "failed" and r.json["last_status_code"] == 503
        assert Receiver.BODY not in r.data
        assert client.post(f"/api/v1/webhooks/{sub['id']}/ping", headers=admin).json["status"] == "delivered"
        run_id = training_run(client, auth)
        create_model(client, auth)
        register(client, auth, "churn", run_id)  # not subscribed: no delivery
        assert deliver.deliver_due(Runtime.of(app).database, Runtime.of(app).settings) == 0
    assert [h["X-Tether-Event"] for h, _ in rx.received] == ["ping", "ping"]


def test_webhook_admin_only_and_validation(client, auth, admin_token, backend):
    assert_error(
        client.post("/api/v1/webhooks", headers=auth, json={"url": "http://127.0.0.1/", "events": ["*"]}),
        403,
        "PERMISSION_DENIED",
    )
    admin = bearer(admin_token)
    assert_error(
        client.post("/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1/", "events": ["nope"]}),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(
        client.post(
            "/api/v1/webhooks",
            headers=admin,
            json={"url": "http://127.0.0.1/", "events": ["*"], "secret": "short"},
        ),
        400,
        "INVALID_ARGUMENT",
    )
    err = assert_error(
        client.post("/api/v1/webhooks", headers=admin, json={"url": "http://10.0.0.8/", "events": ["*"]}),
        400,
        "INVALID_ARGUMENT",
    )
    assert err["details"]["reason"] == "blocked_address"
    created = client.post(
        "/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/", "events": ["*"]}
    ).json
    assert created["secret"].startswith("whsec_")
    assert (
        client.patch(f"/api/v1/webhooks/{created['id']}", headers=admin, json={"active": False}).json[
            "active"
        ]
        is False
    )
    assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 204


def test_outbox_row_is_written_in_the_event_transaction(app, client, auth, admin_token, backend):
    """A failed registration leaves no delivery; the outbox survives an app restart (it is a table)."""
    admin = bearer(admin_token)
    _subscribe(client, admin, "http://127.0.0.1:9/hook")
    run_id = training_run(client, auth)
    create_model(client, auth)
    client.post(
        "/api/v1/models/churn/versions", headers=auth, json={"run_id": run_id, "artifact_path": "nope"}
    )
    from sqlalchemy import func, select

    from tether_server.models.registry import WebhookDelivery

    with Runtime.of(app).database.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    register(client, auth, "churn", run_id)
    with Runtime.of(app).database.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "webhook_allowlist": "127.0.0.1/32",
            "webhook_worker": True,
            "webhook_poll_seconds": 0.1,
            "webhook_retry_base_seconds": 0.05,
        }
    ],
)
def test_background_worker_delivers_and_retries(app, client, auth, admin_token, backend, settings_overrides):
    admin = bearer(admin_token)
    worker = Runtime.of(app).workers.get("webhooks")
    assert worker is not None and worker.running  # started by create_app, not by a request
    with Receiver(statuses=[500]) as rx:
        _subscribe(client, admin, rx.url)
        run_id = training_run(client, auth)
        create_model(client, auth)
        register(client, auth, "churn", run_id)
        deadline = time.time() + 20
        while len(rx.received) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(rx.received) == 2
        assert webhooks.verify(SECRET, rx.received[1][0]["X-Tether-Signature"], rx.received[1][1])
    Runtime.of(app).close()
    assert not worker.running
