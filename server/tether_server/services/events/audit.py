"""The append-only audit trail, read side. Rows are written only by ``events.publish`` (one per
domain event; identity, registry and webhook-admin events share the table)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import AuditEvent


def list_events(
    session: Session,
    *,
    model: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: int | None = None,
    after_id: int | None = None,
    before_id: int | None = None,
    newest_first: bool = False,
    limit: int = 100,
) -> list[AuditEvent]:
    """Audit rows matching the filters, oldest first (the API pages forward with ``after_id``) or
    newest first (the UI pages backward with ``before_id``). ``action`` takes ``*`` wildcards."""
    q = select(AuditEvent)
    if model:
        q = q.where(AuditEvent.model_name == model)
    if action:
        q = q.where(AuditEvent.action.like(action.replace("*", "%")))
    if actor:
        q = q.where(AuditEvent.actor_name == actor)
    if since is not None:
        q = q.where(AuditEvent.ts >= since)
    if after_id is not None:
        q = q.where(AuditEvent.id > after_id)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    order = AuditEvent.id.desc() if newest_first else AuditEvent.id
    return list(session.scalars(q.order_by(order).limit(limit)))
