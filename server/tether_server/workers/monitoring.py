"""The monitoring evaluator: ``evaluate_due`` every ``TETHER_MONITOR_EVAL_SECONDS`` (0 turns it off).

Each pass is one short write transaction of the worker's own. On PostgreSQL the due monitors are
claimed with ``FOR UPDATE SKIP LOCKED``, so every server process may run the worker and they share the
work; on SQLite the write transaction is the single writer. ``tether monitors evaluate`` runs one pass
from the command line (cron, or no server running).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..models import now_ms
from ..services.monitoring import evaluate_due
from .base import PollingWorker

if TYPE_CHECKING:
    from ..config import Settings
    from ..db import Database


def evaluate_once(database: Database, now: int | None = None, monitor_ids: list[int] | None = None) -> int:
    """One evaluator pass in its own transaction; returns the number of windows evaluated."""
    with database.transaction() as s:
        return evaluate_due(s, now if now is not None else now_ms(), monitor_ids)


class MonitorEvaluatorWorker(PollingWorker):
    """Closes due windows, re-evaluates changed ones, opens and auto-resolves alerts, prunes
    prediction ids. On when ``TETHER_MONITOR_EVAL_SECONDS`` is above 0."""

    name: ClassVar[str] = "monitor-evaluator"

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.monitor_eval_seconds > 0

    @property
    def poll_seconds(self) -> float:
        return self.runtime.settings.monitor_eval_seconds

    def run_once(self) -> int:
        return evaluate_once(self.runtime.database)
