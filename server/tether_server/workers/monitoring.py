"""The monitoring evaluator: ``evaluate_due`` every ``TETHER_MONITOR_EVAL_SECONDS`` (0 turns it off).

Each pass is a series of short transactions of the worker's own (``evaluate_staged``): per monitor
and batch of windows, the inputs are read, the drift statistics computed with no transaction open,
and the results written in a short write transaction that skips windows posted to meanwhile (they
stay dirty for the next pass); the alert rules run in short write transactions that lock the
monitor row. So a pass over hundreds of windows never holds the SQLite write lock (or PostgreSQL row
locks) for its whole computation, and every server process may run the worker: a monitor is
claimed for the pass without a transaction (``claim``: a PostgreSQL advisory lock; on SQLite a
``flock`` for the whole pass), so processes skip each other's monitors instead of computing them
twice, and the monitor row lock in the write steps (PostgreSQL ``FOR UPDATE``) keeps two processes
from storing or alerting the same window twice even without the claim. ``tether monitors evaluate`` runs one pass from the
command line (cron, or no server running).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import select, text

from .._lazy import lazy_module
from ..models import now_ms
from .base import PollingWorker

if TYPE_CHECKING:
    from ..config import Settings
    from ..db import Database
    from ..models import monitoring as mm
    from ..services.monitoring import evaluate as ev
    from ..services.monitoring import labels, recompute, references, rules
else:  # the monitoring area loads on first use (tether_server._lazy; see ``area_table`` below)
    mm = lazy_module("tether_server.models.monitoring")
    ev = lazy_module("tether_server.services.monitoring.evaluate")
    labels = lazy_module("tether_server.services.monitoring.labels")
    recompute = lazy_module("tether_server.services.monitoring.recompute")
    references = lazy_module("tether_server.services.monitoring.references")
    rules = lazy_module("tether_server.services.monitoring.rules")


def evaluate_once(
    database: Database, now: int | None = None, monitor_ids: list[int] | None = None, wait: bool = False
) -> int:
    """One evaluator pass in short transactions of its own; returns the number of windows evaluated.
    ``wait``: wait for another process's pass over a monitor instead of skipping it (the CLI)."""
    return evaluate_staged(database, now if now is not None else now_ms(), monitor_ids, wait)


_PG_CLAIM = 727_274_002  # advisory lock class of "a process is evaluating monitor <id>"


@contextlib.contextmanager
def claim(database: Database, monitor_id: int | None, wait: bool = False) -> Iterator[bool]:
    """Whether this process may evaluate the monitor now, held for the ``with`` block without any
    transaction open, so two processes do not compute the same windows (CPU only: correctness does
    not depend on it, see ``evaluate_monitor_staged``). PostgreSQL: a session-level advisory lock on
    a connection of its own, idle between its two statements (released by the server if the
    process dies); ``monitor_id=None`` claims nothing there. SQLite (one host): a non-blocking
    ``flock`` on ``<database>.evaluator.lock`` for the whole pass (``monitor_id=None``). ``wait``:
    wait for the other process instead (the CLI's pass: it then finds what that one did done)."""
    engine = database.engine
    if engine.dialect.name == "postgresql":
        if monitor_id is None:
            yield True
            return
        key = {"k": _PG_CLAIM, "m": monitor_id}
        with engine.connect() as conn:
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(:k, :m)"), key)
                got = True
            else:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k, :m)"), key).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k, :m)"), key)
                    conn.commit()
        return
    path = engine.url.database
    if monitor_id is not None or not path or path == ":memory:":
        yield True
        return
    fd = os.open(path + ".evaluator.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def evaluate_monitor_staged(database: Database, monitor_id: int, now: int, wait: bool = False) -> int:
    """One monitor's pass in short transactions of its own (see above); the windows stored. 0 when
    another process is evaluating the monitor (``claim``)."""
    with claim(database, monitor_id, wait) as mine:
        return _evaluate_monitor_staged(database, monitor_id, now) if mine else 0


def _evaluate_monitor_staged(database: Database, monitor_id: int, now: int) -> int:
    with database.transaction() as s:
        monitor = ev.lock_monitor(s, monitor_id)
        if monitor is None:
            return 0  # deleted meanwhile
        ev.reference_in_force(s, monitor)
        due = [
            (ws, ua)
            for ws, ua in s.execute(
                ev.due_query(monitor, now).with_only_columns(
                    mm.MonitorWindowResult.window_start, mm.MonitorWindowResult.updated_at
                )
            )
        ]
    stored = 0
    for i in range(0, len(due), recompute.WINDOW_BATCH):
        with database.transaction(write=False) as s:
            monitor = s.get(mm.Monitor, monitor_id)
            if monitor is None:
                return stored
            inputs = recompute.gather(s, monitor, due[i : i + recompute.WINDOW_BATCH])
            s.expunge(monitor)
        computed = recompute.compute_windows(monitor, inputs, now)  # no transaction open
        with database.transaction() as s:
            locked = ev.lock_monitor(s, monitor_id)
            if locked is None:
                return stored
            stored += recompute.store_batch(s, locked, inputs, computed, now)
    first = True
    while True:
        with database.transaction() as s:
            monitor = ev.lock_monitor(s, monitor_id)
            if monitor is None:
                return stored
            ref = references.latest_reference(s, monitor_id)
            pending = []
            if ref is not None:
                if first:
                    rules.decay_history(s, monitor, ref)
                    s.flush()
                    first = False
                pending = rules.pending_alerts(s, monitor, rules.ALERT_BATCH)
                rules.apply_alerts(s, monitor, ref, pending)
            if len(pending) < rules.ALERT_BATCH:  # the last batch (or no reference): prune and stop
                labels.prune_predictions(s, monitor, now)
                return stored


def evaluate_staged(
    database: Database, now: int, monitor_ids: list[int] | None = None, wait: bool = False
) -> int:
    """One evaluator pass in short transactions (``evaluate_monitor_staged`` per monitor); returns
    the number of windows (re)computed and stored."""
    with claim(database, None, wait) as mine:
        if not mine:
            return 0  # SQLite: another process of this host is running a pass
        with database.transaction(write=False) as s:
            q = select(mm.Monitor.id).order_by(mm.Monitor.id)
            if monitor_ids is not None:
                q = q.where(mm.Monitor.id.in_(monitor_ids))
            ids = list(s.scalars(q))
        return sum(evaluate_monitor_staged(database, mid, now, wait) for mid in ids)


class MonitorEvaluatorWorker(PollingWorker):
    """Closes due windows, re-evaluates changed ones, opens and auto-resolves alerts, prunes
    prediction ids. On when ``TETHER_MONITOR_EVAL_SECONDS`` is above 0."""

    name: ClassVar[str] = "monitor-evaluator"
    area_table: ClassVar[str | None] = "monitors"

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.monitor_eval_seconds > 0

    @property
    def poll_seconds(self) -> float:
        return self.runtime.settings.monitor_eval_seconds

    def run_once(self) -> int:
        return evaluate_once(self.runtime.database)
