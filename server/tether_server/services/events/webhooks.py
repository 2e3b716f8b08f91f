"""Signed webhooks through a durable outbox.

``emit`` writes one ``webhook_deliveries`` row per matching subscription in the event's own transaction,
so a delivery exists exactly when the event was committed and survives restarts. A delivery worker
(one background thread per process, see ``webhook_worker``) or ``tether webhooks deliver`` claims due rows
with a conditional UPDATE (safe with several processes), POSTs them through the SSRF guard and records
the status code and a short error class. Failures are retried with exponential backoff.

Signature: ``X-Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound
from ...jsonutil import dumps
from ...models import now_ms
from ...models.registry import WebhookDelivery, WebhookSubscription
from .. import paging
from . import audit, ssrf

logger = logging.getLogger(__name__)

EVENTS = (
    "model_version.created",
    "transition.requested",
    "transition.approved",
    "transition.rejected",
    "stage.changed",
    "alias.changed",
    # production monitoring (services/monitoring/events.py)
    "alert.opened",
    "alert.acknowledged",
    "alert.resolved",
    "retrain.requested",
)
LEASE_MS = 120_000
USER_AGENT = "Tether-Webhooks/1"

# Called after a commit that wrote outbox rows (the worker module registers its wake-up here).
after_enqueue: list[Callable[[], None]] = []


# ---------------------------------------------------------------- subscriptions (admin)


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise InvalidArgument(
            f"events must be a non-empty list of {list(EVENTS)} or ['*']", {"field": "events"}
        )
    bad = [e for e in events if e != "*" and e not in EVENTS]
    if bad:
        raise InvalidArgument(f"Unknown events {bad}; known: {list(EVENTS)}", {"field": "events"})
    return sorted(set(events))


def _check_url(url: str, allowlist: str) -> str:
    try:
        ssrf.check_url(url, ssrf.Allowlist.parse(allowlist))
    except ssrf.UnsafeURL as e:
        raise InvalidArgument(f"Webhook URL refused: {e}", {"field": "url", "reason": e.reason}) from None
    return url


def create_subscription(
    session: Session,
    actor: Principal,
    *,
    url: str,
    events: list[str],
    allowlist: str,
    secret: str | None = None,
    model_name: str | None = None,
    description: str = "",
    active: bool = True,
) -> tuple[WebhookSubscription, str]:
    if secret is not None and len(secret) < 16:
        raise InvalidArgument(
            "secret must be at least 16 characters (or omit it to get a generated one)", {"field": "secret"}
        )
    plain = secret or "whsec_" + secrets.token_urlsafe(32)
    sub = WebhookSubscription(
        url=_check_url(url, allowlist),
        secret=plain,
        events=_check_events(events),
        model_name=model_name,
        description=description or "",
        active=active,
        created_by=actor.id,
    )
    session.add(sub)
    session.flush()
    audit.record(
        session,
        actor,
        "webhook.created",
        resource_type="webhook",
        resource_id=sub.id,
        model_name=model_name,
        details={"url": url, "events": sub.events},
    )
    return sub, plain


def get_subscription(session: Session, sub_id: int) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound(f"Webhook {sub_id} not found")
    return sub


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def update_subscription(
    session: Session,
    actor: Principal,
    sub_id: int,
    allowlist: str,
    **changes: Any,
) -> WebhookSubscription:
    sub = get_subscription(session, sub_id)
    if changes.get("url") is not None:
        sub.url = _check_url(changes["url"], allowlist)
    if changes.get("events") is not None:
        sub.events = _check_events(changes["events"])
    for field in ("active", "description", "model_name"):
        if field in changes and (changes[field] is not None or field == "model_name"):
            setattr(sub, field, changes[field])
    if changes.get("secret") is not None:
        if len(changes["secret"]) < 16:
            raise InvalidArgument("secret must be at least 16 characters", {"field": "secret"})
        sub.secret = changes["secret"]
    audit.record(
        session,
        actor,
        "webhook.updated",
        resource_type="webhook",
        resource_id=sub.id,
        details={"fields": sorted(k for k, v in changes.items() if v is not None)},
    )
    return sub


def delete_subscription(session: Session, actor: Principal, sub_id: int) -> None:
    sub = get_subscription(session, sub_id)
    audit.record(
        session,
        actor,
        "webhook.deleted",
        resource_type="webhook",
        resource_id=sub.id,
        details={"url": sub.url},
    )
    session.delete(sub)


def list_deliveries(
    session: Session, sub_id: int, *, max_results: int = 100, page_token: str | None = None
) -> tuple[list[WebhookDelivery], str | None]:
    get_subscription(session, sub_id)
    scope = paging.scope_of("deliveries", sub_id)
    tok = paging.decode(page_token, scope)
    q = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
    if tok:
        q = q.where(WebhookDelivery.id < int(tok["before"]))
    rows = list(session.scalars(q.order_by(WebhookDelivery.id.desc()).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "before", lambda r: r.id)


# ---------------------------------------------------------------- outbox


def _body(event: str, data: dict[str, Any]) -> str:
    return dumps({"id": uuid.uuid4().hex, "event": event, "created_at": now_ms(), "data": data}).decode()


def emit(session: Session, event: str, model_name: str | None, data: dict[str, Any]) -> int:
    subs = [
        s
        for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
        if (event in s.events or "*" in s.events) and (s.model_name in (None, model_name))
    ]
    for sub in subs:
        session.add(WebhookDelivery(subscription_id=sub.id, event=event, payload=_body(event, data)))
    if subs and not session.info.get("_webhook_wake"):
        session.info["_webhook_wake"] = True
        from sqlalchemy import event as sa_event

        def wake(s: Session) -> None:
            s.info.pop("_webhook_wake", None)
            for fn in after_enqueue:
                fn()

        sa_event.listen(session, "after_commit", wake, once=True)
    return len(subs)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """The receiver's check (also used in tests): parse ``t=..,v1=..``, recompute, compare in constant time."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), fields.get("v1", ""))


def _headers(sub: WebhookSubscription, delivery: WebhookDelivery, body: bytes) -> dict[str, str]:
    ts = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tether-Event": delivery.event,
        "X-Tether-Delivery": str(delivery.id),
        "X-Tether-Signature": f"t={ts},v1={sign(sub.secret, ts, body)}",
    }


def backoff_ms(attempts: int, base_s: float) -> int:
    return int(min(base_s * 2 ** max(attempts - 1, 0), 3600) * 1000)


def _claim(db: Any, delivery_id: int, now: int) -> bool:
    with db.session() as s:
        res = s.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + LEASE_MS)
        )
        s.commit()
        return res.rowcount == 1  # type: ignore[attr-defined]


def attempt(
    db: Any, settings: Any, delivery_id: int, *, follow_redirects: bool = False, retry: bool = True
) -> WebhookDelivery:
    """Send one claimed delivery and record the outcome (status code and error class only)."""
    extra = settings.extra or {}
    with db.session(write=False) as s:
        d = s.get(WebhookDelivery, delivery_id)
        sub = s.get(WebhookSubscription, d.subscription_id) if d else None
    if d is None:
        raise NotFound(f"Delivery {delivery_id} not found")
    code, err = (
        (None, "subscription_inactive")
        if sub is None or not sub.active
        else ssrf.post(
            sub.url,
            d.payload.encode(),
            _headers(sub, d, d.payload.encode()),
            ssrf.Allowlist.parse(settings.webhook_allowlist),
            timeout=float(extra.get("webhook_timeout_seconds", settings.webhook_timeout_seconds)),
            follow_redirects=follow_redirects,
        )
    )
    with db.session() as s:
        d = s.get(WebhookDelivery, delivery_id)
        d.attempts += 1
        d.last_attempt_at, d.last_status_code, d.last_error = now_ms(), code, err
        if err is None:
            d.status, d.delivered_at = "delivered", now_ms()
        elif (
            d.attempts >= int(extra.get("webhook_max_attempts", settings.webhook_max_attempts))
            or err == "subscription_inactive"
            or not retry
        ):
            d.status = "failed"
        else:
            d.next_attempt_at = now_ms() + backoff_ms(
                d.attempts,
                float(extra.get("webhook_retry_base_seconds", settings.webhook_retry_base_seconds)),
            )
        s.commit()
        logger.info("webhook delivery %s -> %s %s", d.id, code, err or "ok")
        return d


def deliver_due(db: Any, settings: Any, *, limit: int = 100, now: int | None = None) -> int:
    """Deliver what is due; returns the number of attempts made. Safe to run in several processes."""
    now = now if now is not None else now_ms()
    with db.session(write=False) as s:
        ids = list(
            s.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
        )
    done = 0
    for did in ids:
        if _claim(db, did, now):
            attempt(db, settings, did)
            done += 1
    return done


def ping(db: Any, settings: Any, actor: Principal, sub_id: int) -> WebhookDelivery:
    """Send a ``ping`` now (outside any open transaction) and log it like any delivery."""
    with db.session() as s:
        sub = get_subscription(s, sub_id)
        d = WebhookDelivery(
            subscription_id=sub.id,
            event="ping",
            next_attempt_at=now_ms() + LEASE_MS,
            payload=_body("ping", {"webhook_id": sub.id, "actor": actor.name}),
        )
        s.add(d)
        s.commit()
        did = d.id
    return attempt(db, settings, did, retry=False)


# ---------------------------------------------------------------- the per-process delivery worker


class DeliveryWorker:
    """A daemon thread that polls the outbox (and wakes at once after a commit that enqueued)."""

    def __init__(self, db: Any, settings: Any) -> None:
        import threading

        self.db, self.settings = db, settings
        self.poll_s = float((settings.extra or {}).get("webhook_poll_seconds", settings.webhook_poll_seconds))
        self.wake = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="tether-webhooks", daemon=True)

    def _run(self) -> None:
        while not self.stopped:
            try:
                deliver_due(self.db, self.settings)
            except Exception:  # noqa: BLE001  (keep the worker alive; the outbox keeps the work)
                logger.exception("webhook delivery pass failed")
            self.wake.wait(self.poll_s)
            self.wake.clear()

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()
        self.thread.join(10)


_WORKERS: dict[tuple[int, int], DeliveryWorker] = {}


def ensure_worker(db: Any, settings: Any) -> DeliveryWorker | None:
    """Start this process's worker for ``db`` once (lazily, so it runs in each gunicorn worker after fork).
    Off when ``testing`` unless ``extra={"webhook_worker": True}``."""
    import os

    if not (settings.extra or {}).get("webhook_worker", settings.webhook_worker and not settings.testing):
        return None
    key = (os.getpid(), id(db))
    worker = _WORKERS.get(key)
    if worker is None:
        worker = _WORKERS[key] = DeliveryWorker(db, settings)
        worker.thread.start()
    return worker


def stop_worker(db: Any) -> None:
    import os

    worker = _WORKERS.pop((os.getpid(), id(db)), None)
    if worker is not None:
        worker.stop()


def _wake_all() -> None:
    for w in list(_WORKERS.values()):
        w.wake.set()


after_enqueue.append(_wake_all)
