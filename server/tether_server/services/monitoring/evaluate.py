"""The evaluator: one pass over the monitors. ``evaluate_due(session, now)`` runs it in the
caller's session (tests, scripts); the background worker (every ``monitor_eval_seconds``) and
``tether monitors evaluate`` run the same steps in short transactions of their own
(``workers.monitoring.evaluate_staged``: no transaction is open while the drift is computed).

For each monitor it (1) makes sure the reference follows the live version, (2) recomputes every
dirty window (merged summary, drift, metric) and closes windows whose end + grace has passed
(``recompute``), (3) recomputes the decay/z-score statuses over the history of the current model
version and (4) applies the alert rules to each closed window whose inputs changed, oldest first
(``rules``). Finally it prunes prediction ids older than the retention period (``labels``).

This module holds the pass itself: the reference in force, the due windows, the monitor lock the
staged steps write under, ``evaluate_monitor`` and ``evaluate_due``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...errors import FailedPrecondition
from ...models.monitoring import Monitor, MonitorReference, MonitorWindowResult
from . import references
from .labels import prune_predictions
from .recompute import WINDOW_BATCH, compute_windows, gather, store
from .rules import apply_alerts, decay_history, pending_alerts
from .windows import window_ms

logger = logging.getLogger(__name__)


def reference_in_force(session: Session, monitor: Monitor) -> MonitorReference | None:
    try:
        return references.current_reference(session, monitor)
    except FailedPrecondition:
        return references.latest_reference(session, monitor.id)


def due_query(monitor: Monitor, now: int) -> Any:
    horizon = now - window_ms(monitor) - monitor.grace_seconds * 1000
    return (
        select(MonitorWindowResult)
        .where(
            MonitorWindowResult.monitor_id == monitor.id,
            or_(
                MonitorWindowResult.dirty.is_(True),
                (MonitorWindowResult.closed.is_(False)) & (MonitorWindowResult.window_start <= horizon),
            ),
        )
        .order_by(MonitorWindowResult.window_start)
    )


def evaluate_monitor(session: Session, monitor: Monitor, now: int) -> int:
    """One monitor's pass in the caller's session (the CLI's and the tests' single transaction);
    ``workers.monitoring.evaluate_monitor_staged`` is the same work in short transactions."""
    ref = reference_in_force(session, monitor)
    due = list(session.scalars(due_query(monitor, now)))
    for i in range(0, len(due), WINDOW_BATCH):
        part = due[i : i + WINDOW_BATCH]
        inputs = gather(session, monitor, [(r.window_start, r.updated_at) for r in part])
        for r, fields in zip(part, compute_windows(monitor, inputs, now), strict=True):
            store(r, fields)
    session.flush()  # the sessions do not autoflush: the queries below must see the refreshed rows
    if ref is not None:
        decay_history(session, monitor, ref)
        session.flush()
        apply_alerts(session, monitor, ref, pending_alerts(session, monitor))
    prune_predictions(session, monitor, now)
    session.flush()
    return len(due)


def evaluate_due(session: Session, now_ms: int, monitor_ids: list[int] | None = None) -> int:
    """One evaluator pass in the caller's session; returns the number of windows (re)computed.
    Never commits. Monitors are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
    processes share the work. The background worker and ``tether monitors evaluate`` run
    ``workers.monitoring.evaluate_staged`` instead, which holds no transaction while it computes."""
    q = select(Monitor).order_by(Monitor.id)
    if monitor_ids is not None:
        q = q.where(Monitor.id.in_(monitor_ids))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, key_share=True)  # FOR NO KEY UPDATE: see lock_monitor
    total = 0
    for monitor in session.scalars(q).all():
        total += evaluate_monitor(session, monitor, now_ms)
    return total


# ---------------------------------------------------------------- steps of the pass in short transactions
#
# ``workers.monitoring.evaluate_staged`` runs the pass with these steps. Per monitor: (1) a short
# write transaction makes sure the reference follows the live version and lists the due windows
# with their ``updated_at``; (2) per batch of ``recompute.WINDOW_BATCH`` windows, a read transaction
# gathers the inputs, the drift statistics are computed with no transaction open, and a short write
# transaction stores the results (``recompute.store_batch``) -- locking the result rows (PostgreSQL
# ``FOR UPDATE``; SQLite has one writer) and skipping every window that was posted to since it was
# read (its ``updated_at`` changed: it stays dirty and the next pass recomputes it) or that another
# process evaluated meanwhile; (3) the alert rules run in short write transactions of
# ``rules.ALERT_BATCH`` windows, each locking the monitor row (``lock_monitor``: PostgreSQL
# ``FOR UPDATE``) so two processes never apply the rules to the same window; ``alerts_done`` is set
# in the same transaction. The worker claims a monitor for the whole pass without a transaction
# (``workers.monitoring.claim``) so processes do not compute the same windows twice; should two ever
# do (a claim lost), the second store is skipped or writes identical values, never a second alert.


def lock_monitor(session: Session, monitor_id: int) -> Monitor | None:
    """The monitor row, locked against other evaluators (PostgreSQL ``FOR NO KEY UPDATE``). Not
    ``FOR UPDATE``: that also blocks the ``FOR KEY SHARE`` lock a data post's foreign-key check
    takes on the monitor at the end of its statement, after it has upserted the window's result
    row, which this transaction then locks too: a deadlock (seen under load, answered 503)."""
    q = select(Monitor).where(Monitor.id == monitor_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(key_share=True)
    return session.scalar(q.execution_options(populate_existing=True))
