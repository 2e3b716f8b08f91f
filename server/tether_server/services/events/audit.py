"""Append-only audit log writer and reader (identity and registry events share the table)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...models import AuditEvent


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    *,
    resource_type: str = "",
    resource_id: str | int = "",
    model_name: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    comment: str = "",
    details: dict[str, Any] | None = None,
    request_id: str = "",
    actor_name: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_name=actor_name if actor_name is not None else (actor.name if actor else ""),
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        model_name=model_name,
        from_value=from_value,
        to_value=to_value,
        comment=comment or "",
        details=details or {},
        request_id=request_id,
    )
    session.add(event)
    return event


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
