"""The one ``publish(session, event)`` for domain events (``Event`` subclasses, ``types/``).

In the caller's transaction, so both exist exactly when the change is committed, it

1. appends one audit row (``event.action`` with the event's audit fields and ``details()``), and
2. when ``event.webhook`` names a webhook event, writes one outbox row per matching subscription
   (``outbox.emit``, which wakes the delivery worker after the commit), and
3. raises the ``EVENT_PUBLISHED`` commit signal (the runtime drops the permission checks the A/B
   serving cache trusts: a grant, group, user or test change made here is seen at once).

Services never write audit rows or outbox rows themselves; they publish.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...db import after_commit
from ...models import AuditEvent
from . import outbox
from .base import Event

EVENT_PUBLISHED = "event_published"


def publish(session: Session, event: Event) -> AuditEvent:
    """Record ``event`` in the audit table and, if it is a webhook event, in the outbox."""
    actor = event.actor
    row = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_name=event.actor_name if event.actor_name is not None else (actor.name if actor else ""),
        action=event.action,
        resource_type=event.resource_type,
        resource_id=str(event.resource_id),
        model_name=event.model_name,
        from_value=event.from_value(),
        to_value=event.to_value(),
        comment=event.comment or "",
        details=event.details(),
        request_id=event.request_id,
    )
    session.add(row)
    after_commit(session, EVENT_PUBLISHED)
    if event.webhook:
        payload = {"model": event.model_name, "actor": actor.name if actor else None, **event.data()}
        outbox.emit(session, event.webhook, event.model_name, payload)
    return row
