"""The webhook outbox writer: ``emit`` adds one ``webhook_deliveries`` row per matching active
subscription, in the event's own transaction, so a delivery exists exactly when its event was
committed. ``bus.publish`` is its only caller for domain events; delivery is in ``webhooks``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...jsonutil import dumps
from ...models import now_ms
from ...models.registry import WebhookDelivery, WebhookSubscription
from .base import after_commit

# Called after a commit that wrote outbox rows (the delivery worker registers its wake-up here).
after_enqueue: list[Callable[[], None]] = []


def body(event: str, data: dict[str, Any]) -> str:
    """A delivery's JSON body: ``{"id", "event", "created_at", "data"}`` (README, Webhooks)."""
    return dumps({"id": uuid.uuid4().hex, "event": event, "created_at": now_ms(), "data": data}).decode()


def emit(session: Session, event: str, model_name: str | None, data: dict[str, Any]) -> int:
    subs = [
        s
        for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
        if (event in s.events or "*" in s.events) and (s.model_name in (None, model_name))
    ]
    for sub in subs:
        session.add(WebhookDelivery(subscription_id=sub.id, event=event, payload=body(event, data)))
    if subs:
        after_commit(session, _wake, key="_webhook_wake")
    return len(subs)


def _wake() -> None:
    for fn in after_enqueue:
        fn()
