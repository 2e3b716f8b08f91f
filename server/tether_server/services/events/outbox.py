"""The webhook outbox writer: ``emit`` adds one ``webhook_deliveries`` row per matching active
subscription, in the event's own transaction, so a delivery exists exactly when its event was
committed. ``bus.publish`` is its only caller for domain events; delivery is in ``webhooks``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db import after_commit
from ...jsonutil import dumps
from ...models import now_ms
from ...models.registry import WebhookDelivery, WebhookSubscription

# Raised (``db.after_commit``) by a transaction that wrote outbox rows: the app wakes its delivery worker.
OUTBOX_WRITTEN = "webhook_outbox_written"


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
        after_commit(session, OUTBOX_WRITTEN)
    return len(subs)
