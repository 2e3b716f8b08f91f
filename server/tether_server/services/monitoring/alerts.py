"""Alerts shared by monitors and A/B tests: deduplicated per (kind, subject, rule, column), opened
and updated by the evaluators, acknowledged/resolved by people, auto-resolved after clean windows.

Dedup: ``dedup_key`` = ``kind:subject:rule:column`` has a partial unique index over unresolved
alerts, and ``open_or_update`` locks the subject's row (PostgreSQL ``FOR UPDATE``; SQLite has one
writer), so two evaluators never open the same alert twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from ...models import now_ms
from ...models.monitoring import Alert
from ...models.registry import RegisteredModel
from ..events import publish
from ..events import types as events
from ..identity import permissions

AUTO_RESOLVE_CLEAN = 2
STATUSES = ("open", "acknowledged", "resolved")
MAX_COMMENT = 2000


def dedup_key(kind: str, subject: int | None, rule: str, column: str | None) -> str:
    return f"{kind}:{subject}:{rule}:{column or ''}"


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "monitor_id": a.monitor_id,
        "ab_test_id": a.ab_test_id,
        "model_id": a.model_id,
        "rule": a.rule,
        "column": a.column,
        "severity": a.severity,
        "status": a.status,
        "message": a.message,
        "details": a.details,
        "first_window": a.first_window,
        "last_window": a.last_window,
        "clean_windows": a.clean_windows,
        "opened_at": a.opened_at,
        "updated_at": a.updated_at,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": a.acknowledged_at,
        "resolved_by": a.resolved_by,
        "resolved_at": a.resolved_at,
        "resolve_comment": a.resolve_comment,
    }


def _model_name(session: Session, model_id: int) -> str:
    return session.scalar(select(RegisteredModel.name).where(RegisteredModel.id == model_id)) or ""


def _unresolved(session: Session, key: str) -> Alert | None:
    q = select(Alert).where(Alert.dedup_key == key, Alert.status != "resolved")
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return session.scalar(q)


def open_or_update(
    session: Session,
    *,
    kind: str,
    model_id: int,
    rule: str,
    severity: str,
    message: str,
    details: dict[str, Any],
    monitor_id: int | None = None,
    ab_test_id: int | None = None,
    column: str | None = None,
    window: int | None = None,
) -> Alert:
    """See ``open_or_update_ex`` (this is the design's signature)."""
    return open_or_update_ex(
        session,
        kind=kind,
        model_id=model_id,
        rule=rule,
        severity=severity,
        message=message,
        details=details,
        monitor_id=monitor_id,
        ab_test_id=ab_test_id,
        column=column,
        window=window,
    )[0]


def open_or_update_ex(
    session: Session,
    *,
    kind: str,
    model_id: int,
    rule: str,
    severity: str,
    message: str,
    details: dict[str, Any],
    monitor_id: int | None = None,
    ab_test_id: int | None = None,
    column: str | None = None,
    window: int | None = None,
) -> tuple[Alert, bool]:
    """(alert, created). Open an alert, or update the unresolved one of the same (kind, subject, rule, column).
    Publishes ``alert.opened`` only when a new alert is opened (an escalation warn -> alert
    updates the severity and publishes nothing: no alert storms)."""
    key = dedup_key(kind, monitor_id if kind == "monitor" else ab_test_id, rule, column)
    alert = _unresolved(session, key)
    now = now_ms()
    if alert is not None:
        if window is None or alert.last_window is None or window >= alert.last_window:
            alert.message, alert.details, alert.last_window = message, details, window
            alert.clean_windows, alert.last_clean_window = 0, None
        if severity == "alert":
            alert.severity = "alert"
        alert.updated_at = now
        return alert, False
    alert = Alert(
        kind=kind,
        monitor_id=monitor_id,
        ab_test_id=ab_test_id,
        model_id=model_id,
        rule=rule,
        column=column,
        severity=severity,
        status="open",
        dedup_key=key,
        message=message,
        details=details,
        first_window=window,
        last_window=window,
        clean_windows=0,
        opened_at=now,
        updated_at=now,
        resolve_comment="",
    )
    session.add(alert)
    session.flush()
    publish(
        session, events.AlertOpened(actor=None, model=_model_name(session, model_id), alert=alert_json(alert))
    )
    return alert, True


def record_clean(
    session: Session,
    *,
    kind: str,
    rule: str,
    column: str | None,
    monitor_id: int | None = None,
    ab_test_id: int | None = None,
    window: int | None = None,
) -> Alert | None:
    """A clean window for the unresolved alert of this key (if any): counts it once per window
    after the alert's last bad window, and resolves the alert after ``AUTO_RESOLVE_CLEAN``."""
    alert = _unresolved(
        session, dedup_key(kind, monitor_id if kind == "monitor" else ab_test_id, rule, column)
    )
    if alert is None:
        return None
    if window is not None:
        if alert.last_window is not None and window <= alert.last_window:
            return alert  # a re-evaluated earlier window says nothing about recovery
        if alert.last_clean_window is not None and window <= alert.last_clean_window:
            return alert  # already counted
        alert.last_clean_window = window
    alert.clean_windows += 1
    alert.updated_at = now_ms()
    if alert.clean_windows >= AUTO_RESOLVE_CLEAN:
        _resolve(session, alert, None, f"auto-resolved after {alert.clean_windows} clean windows")
    return alert


def _resolve(session: Session, alert: Alert, actor: Principal | None, comment: str) -> None:
    alert.status, alert.resolved_at = "resolved", now_ms()
    alert.resolved_by = actor.name if actor else "tether-monitor"
    alert.resolve_comment, alert.updated_at = comment, alert.resolved_at
    session.flush()
    publish(
        session,
        events.AlertResolved(
            actor=actor, model=_model_name(session, alert.model_id), alert=alert_json(alert), comment=comment
        ),
    )


def unresolved_for(session: Session, *, kind: str, subject_id: int) -> list[Alert]:
    col = Alert.monitor_id if kind == "monitor" else Alert.ab_test_id
    return list(session.scalars(select(Alert).where(col == subject_id, Alert.status != "resolved")))


# ---------------------------------------------------------------- people


def get_alert(session: Session, actor: Principal, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"Alert {alert_id} not found")
    permissions.require(session, actor, "model", alert.model_id, "READ", f"Alert {alert_id}")
    return alert


def list_alerts(
    session: Session,
    actor: Principal,
    *,
    status: str | None = None,
    monitor_id: int | None = None,
    ab_test_id: int | None = None,
    model: str | None = None,
    page_token: int | None = None,
    max_results: int = 100,
) -> tuple[list[Alert], int | None]:
    """Newest first; the page token is the last id seen. Only alerts on models the actor can READ."""
    if status is not None and status not in STATUSES:
        raise InvalidArgument(f"status must be one of {list(STATUSES)}", {"field": "status"})
    q = select(Alert).where(permissions.filter_clause(actor, "model", Alert.model_id, "READ"))
    if status:
        q = q.where(Alert.status == status)
    if monitor_id is not None:
        q = q.where(Alert.monitor_id == monitor_id)
    if ab_test_id is not None:
        q = q.where(Alert.ab_test_id == ab_test_id)
    if model is not None:
        q = q.join(RegisteredModel, RegisteredModel.id == Alert.model_id).where(RegisteredModel.name == model)
    if page_token is not None:
        q = q.where(Alert.id < page_token)
    limit = max(1, min(max_results, 1000))
    rows = list(session.scalars(q.order_by(Alert.id.desc()).limit(limit + 1)))
    nxt = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], nxt


def _decide(session: Session, actor: Principal, alert_id: int, comment: str) -> Alert:
    if not actor.has_role("reviewer"):
        raise PermissionDenied("Acknowledging or resolving alerts needs the reviewer role or higher")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise InvalidArgument(f"comment must be a string of at most {MAX_COMMENT} characters")
    alert = get_alert(session, actor, alert_id)
    if alert.status == "resolved":
        raise FailedPrecondition(f"Alert {alert_id} is already resolved", {"status": alert.status})
    return alert


def acknowledge(
    session: Session, actor: Principal, alert_id: int, comment: str = "", request_id: str = ""
) -> Alert:
    alert = _decide(session, actor, alert_id, comment)
    alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor.name, now_ms()
    alert.updated_at = alert.acknowledged_at
    session.flush()
    publish(
        session,
        events.AlertAcknowledged(
            actor=actor,
            model=_model_name(session, alert.model_id),
            alert=alert_json(alert),
            comment=comment,
            request_id=request_id,
        ),
    )
    return alert


def resolve(
    session: Session, actor: Principal, alert_id: int, comment: str = "", request_id: str = ""
) -> Alert:
    alert = _decide(session, actor, alert_id, comment)
    _resolve(session, alert, actor, comment)
    return alert
