"""A/B tests of a registered model's versions: the test, per-window sufficient statistics per
(arm, metric, source), and per-unit summed outcomes for raw rows (the server recomputes the arm).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, now_ms


class ABTest(Base):
    __tablename__ = "ab_tests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="running")  # draft | running | stopped
    state: Mapped[str] = mapped_column(String(24), default="running")  # stats.sequential.State values
    # [{"name", "kind": "stage"|"alias"|"version", "ref", "version"}], control first; versions are
    # resolved when the test starts, so the test compares fixed versions.
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    traffic: Mapped[list[float]] = mapped_column(JSON, default=list)
    metric: Mapped[str] = mapped_column(String(250))
    metric_type: Mapped[str] = mapped_column(String(16))  # proportion | mean
    direction: Mapped[str] = mapped_column(String(8), default="higher")  # higher | lower
    guardrails: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    alpha: Mapped[float] = mapped_column(Float, default=0.05)
    min_units: Mapped[int] = mapped_column(Integer, default=1000)
    min_events: Mapped[int] = mapped_column(Integer, default=30)
    tuning_n: Mapped[int] = mapped_column(Integer, default=5000)
    # The first decision reached per treatment arm (kept, never re-decided), the SRM flag once
    # raised, and the transition request opened for a winner.
    decisions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    srm: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transition_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: requests may be purged
    recommendation: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    stopped_at: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("model_id", "name"),)


class ABOutcomeWindow(Base):
    """Sufficient statistics of one arm and metric in one window from one source; a re-post of the
    same (test, arm, metric, window, source) replaces the row (idempotent)."""

    __tablename__ = "ab_outcome_windows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"))
    arm: Mapped[int] = mapped_column(Integer)  # index into ab_tests.arms
    metric: Mapped[str] = mapped_column(String(250))
    window_start: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(200), default="")
    n: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Float)
    sum_sq: Mapped[float] = mapped_column(Float)
    events: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (UniqueConstraint("test_id", "arm", "metric", "window_start", "source"),)


class ABUnitOutcome(Base):
    """One unit's outcomes of one metric, summed (the unit of analysis is the unit)."""

    __tablename__ = "ab_unit_outcomes"
    test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(250), primary_key=True)
    unit: Mapped[str] = mapped_column(String(250), primary_key=True)
    arm: Mapped[int] = mapped_column(Integer)  # recomputed by the server from the unit id
    value: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (Index("ix_ab_unit_outcomes_test_metric_arm", "test_id", "metric", "arm"),)
