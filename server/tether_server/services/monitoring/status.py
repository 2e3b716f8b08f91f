"""Operational numbers for ``/metrics`` (read at scrape time, so every worker reports the same):
unresolved alerts by kind, severity and status, and per monitor how far behind it is.

* **window lag** (data freshness): seconds from the end of the newest window any source posted
  data into, to now. A deployment that stopped posting shows a growing lag. ``None`` before the
  first post.
* **evaluation lag**: seconds the oldest pending work has waited for the evaluator: a window made
  dirty by a post (since the post) or a window past its end + grace that is not closed yet (since
  end + grace); 0 when nothing waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models.monitoring import Alert, Monitor, MonitorWindow, MonitorWindowResult
from ...models.registry import RegisteredModel


@dataclass(frozen=True)
class MonitorLag:
    monitor_id: int
    model: str
    window_lag_seconds: float | None
    evaluation_lag_seconds: float


def open_alert_counts(session: Session) -> list[tuple[str, str, str, int]]:
    """(kind, severity, status, count) of the alerts not resolved yet."""
    q = (
        select(Alert.kind, Alert.severity, Alert.status, func.count())
        .where(Alert.status != "resolved")
        .group_by(Alert.kind, Alert.severity, Alert.status)
        .order_by(Alert.kind, Alert.severity, Alert.status)
    )
    return [(k, sev, st, int(n)) for k, sev, st, n in session.execute(q)]


def monitor_lags(session: Session, now: int) -> list[MonitorLag]:
    newest = dict(
        session.execute(
            select(MonitorWindow.monitor_id, func.max(MonitorWindow.window_start)).group_by(
                MonitorWindow.monitor_id
            )
        ).all()
    )
    out = []
    monitors = session.execute(
        select(Monitor.id, Monitor.window_seconds, Monitor.grace_seconds, RegisteredModel.name)
        .join(RegisteredModel, RegisteredModel.id == Monitor.model_id)
        .order_by(Monitor.id)
    ).all()
    for mid, window_s, grace_s, model in monitors:
        width, grace = window_s * 1000, grace_s * 1000
        last = newest.get(mid)
        R = MonitorWindowResult
        dirty_since = session.scalar(
            select(func.min(R.updated_at)).where(R.monitor_id == mid, R.dirty.is_(True))
        )
        unclosed = session.scalar(
            select(func.min(R.window_start)).where(
                R.monitor_id == mid, R.closed.is_(False), R.window_start <= now - width - grace
            )
        )
        waiting = [
            t for t in (dirty_since, None if unclosed is None else unclosed + width + grace) if t is not None
        ]
        due_since = min(waiting) if waiting else None
        out.append(
            MonitorLag(
                monitor_id=mid,
                model=model,
                window_lag_seconds=None if last is None else max(0.0, (now - (last + width)) / 1000),
                evaluation_lag_seconds=0.0 if due_since is None else max(0.0, (now - due_since) / 1000),
            )
        )
    return out
