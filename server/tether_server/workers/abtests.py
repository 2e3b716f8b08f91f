"""A/B test decisions: a pass over running tests every ``TETHER_ABTEST_EVAL_SECONDS`` (0 turns it
off; results reads also decide, and ``tether ab-tests evaluate`` runs one pass)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import select

from .._lazy import lazy_module
from .base import PollingWorker

if TYPE_CHECKING:
    from ..config import Settings
    from ..db import Database
    from ..models import abtests as am
    from ..services.abtests import decide
else:  # the A/B area loads on first use (tether_server._lazy; see ``area_table`` below)
    am = lazy_module("tether_server.models.abtests")
    decide = lazy_module("tether_server.services.abtests.decide")


def evaluate_all(database: Database, limit: int = 1000) -> int:
    """One pass: each running test is evaluated in its own short write transaction (its row is
    locked on PostgreSQL, so two processes never act twice on one decision). Returns tests seen."""
    with database.transaction(write=False) as s:
        ids = list(
            s.scalars(
                select(am.ABTest.id).where(am.ABTest.status == "running").order_by(am.ABTest.id).limit(limit)
            )
        )
    for test_id in ids:
        with database.transaction() as s:
            decide.evaluate(s, test_id)
    return len(ids)


class ABTestEvaluator(PollingWorker):
    """Evaluates running A/B tests every ``abtest_eval_seconds`` (default 60; on when above 0)."""

    name: ClassVar[str] = "abtests"
    area_table: ClassVar[str | None] = "ab_tests"

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.abtest_eval_seconds > 0

    @property
    def poll_seconds(self) -> float:
        return self.runtime.settings.abtest_eval_seconds

    def run_once(self) -> int:
        return evaluate_all(self.runtime.database)
