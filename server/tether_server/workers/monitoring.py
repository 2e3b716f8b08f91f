"""The monitoring evaluator as a background thread: ``evaluate_due`` every ``monitor_eval_seconds``.

Each pass runs in its own write session and commits; on PostgreSQL monitors are claimed with
``FOR UPDATE SKIP LOCKED``, so several server processes share the work, and SQLite has one writer.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..models import now_ms
from ..services.monitoring import evaluate_due

logger = logging.getLogger(__name__)


def run_once(db: Any, now: int | None = None) -> int:
    with db.session() as s:
        n = evaluate_due(s, now if now is not None else now_ms())
        s.commit()
        return n


class MonitorEvaluator:
    def __init__(self, db: Any, period_s: float) -> None:
        self.db, self.period = db, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tether-monitor-evaluator", daemon=True)

    def start(self) -> MonitorEvaluator:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                run_once(self.db)
            except Exception:  # keep the thread alive; the next pass retries
                logger.exception("monitor evaluation pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


def start(db: Any, settings: Any) -> MonitorEvaluator | None:
    """Started by create_app (not under ``testing``: tests run passes explicitly)."""
    if settings.monitor_eval_seconds <= 0 or settings.testing:
        return None
    return MonitorEvaluator(db, settings.monitor_eval_seconds).start()
