"""Signed webhooks through a durable outbox.

``emit`` writes one ``webhook_deliveries`` row per matching subscription in the event's own transaction,
so a delivery exists exactly when the event was committed and survives restarts. The delivery worker
(``workers.webhooks``: a thread per server process, or one pass of ``tether webhooks deliver``) claims
due rows (``claim_due``), POSTs them through the SSRF guard (``send``) and records the status code and a
short error class (``record_attempt``). Failures are retried with exponential backoff. These functions
never commit: the worker owns the transactions.

Signature: ``X-Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound
from ...models import now_ms
from ...models.registry import WebhookDelivery, WebhookSubscription
from .. import paging
from . import base, bus, ssrf, types
from .outbox import OUTBOX_WRITTEN, emit  # noqa: F401 (the outbox, re-exported)
from .outbox import body as _body

if TYPE_CHECKING:
    from ...config import Settings

logger = logging.getLogger(__name__)

# Every webhook event name, in definition order: an ``Event`` type with ``webhook = "..."`` (types/)
# is subscribable by being defined.
EVENTS = base.WEBHOOK_EVENTS
LEASE_MS = 120_000
USER_AGENT = "Tether-Webhooks/1"


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
        hint = (
            "; to allow an internal receiver, add its host or CIDR to TETHER_WEBHOOK_ALLOWLIST"
            if e.reason in ("blocked_host", "blocked_address")
            else ""
        )
        raise InvalidArgument(
            f"Webhook URL refused: {e}{hint}",
            {"field": "url", "reason": e.reason, "setting": "TETHER_WEBHOOK_ALLOWLIST"},
        ) from None
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
    bus.publish(
        session,
        types.WebhookCreated(
            actor=actor, subscription_id=sub.id, url=url, events=sub.events, model=model_name
        ),
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
    fields = sorted(k for k, v in changes.items() if v is not None)
    bus.publish(session, types.WebhookUpdated(actor=actor, subscription_id=sub.id, fields=fields))
    return sub


def delete_subscription(session: Session, actor: Principal, sub_id: int) -> None:
    sub = get_subscription(session, sub_id)
    bus.publish(session, types.WebhookDeleted(actor=actor, subscription_id=sub.id, url=sub.url))
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


def claim_due(session: Session, now: int, limit: int = 1) -> list[int]:
    """Lease up to ``limit`` due deliveries to the caller (``LEASE_MS``) and return their ids.

    Call it in a short write transaction of its own and commit before sending: on PostgreSQL the rows
    are locked ``FOR UPDATE SKIP LOCKED`` (concurrent workers take different rows and never wait); on
    SQLite the write transaction is the one writer. A worker that dies mid-send leaves a lease that
    expires, and the row is claimed again."""
    ids = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=now + LEASE_MS)
        )
    return ids


def load(session: Session, delivery_id: int) -> tuple[WebhookDelivery, WebhookSubscription | None]:
    d = session.get(WebhookDelivery, delivery_id)
    if d is None:
        raise NotFound(f"Delivery {delivery_id} not found")
    return d, session.get(WebhookSubscription, d.subscription_id)


def send(
    delivery: WebhookDelivery,
    sub: WebhookSubscription | None,
    settings: Settings,
    *,
    follow_redirects: bool = False,
) -> tuple[int | None, str | None]:
    """POST one delivery through the SSRF guard (no session: call it outside any transaction)."""
    if sub is None or not sub.active:
        return None, "subscription_inactive"
    body = delivery.payload.encode()
    return ssrf.post(
        sub.url,
        body,
        _headers(sub, delivery, body),
        ssrf.Allowlist.parse(settings.webhook_allowlist),
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=follow_redirects,
    )


def record_attempt(
    session: Session,
    delivery_id: int,
    code: int | None,
    err: str | None,
    settings: Settings,
    *,
    retry: bool = True,
) -> WebhookDelivery:
    """Record an attempt's outcome (status code and error class only) and schedule the retry, if any."""
    d = session.get(WebhookDelivery, delivery_id)
    if d is None:
        raise NotFound(f"Delivery {delivery_id} not found")
    d.attempts += 1
    d.last_attempt_at, d.last_status_code, d.last_error = now_ms(), code, err
    if err is None:
        d.status, d.delivered_at = "delivered", now_ms()
    elif d.attempts >= settings.webhook_max_attempts or err == "subscription_inactive" or not retry:
        d.status = "failed"
    else:
        d.next_attempt_at = now_ms() + backoff_ms(d.attempts, settings.webhook_retry_base_seconds)
    logger.info("webhook delivery %s -> %s %s", d.id, code, err or "ok")
    return d


def create_ping(session: Session, actor: Principal, sub_id: int) -> int:
    """A ``ping`` delivery, already leased to the caller (it is sent at once, not by a worker)."""
    sub = get_subscription(session, sub_id)
    d = WebhookDelivery(
        subscription_id=sub.id,
        event="ping",
        next_attempt_at=now_ms() + LEASE_MS,
        payload=_body("ping", {"webhook_id": sub.id, "actor": actor.name}),
    )
    session.add(d)
    session.flush()
    return d.id
