"""Production monitoring: monitors, their references, window summaries, results, predictions, alerts.

A monitor follows a model's stage or alias. Each change of the live version (or of its reference
datasets) adds a ``monitor_references`` row, so the history shows where the version changed.
Producers post per-(window, source) summaries (``monitor_windows``; a re-post replaces, sources
add up) and performance summaries (``monitor_performance``); ``monitor_window_results`` caches
the merged summary and the computed drift/performance per window. ``monitor_predictions`` keeps
only prediction ids and predicted values, only for monitors with a label column, for a retention
period. ``alerts`` is shared with A/B tests (kind ``abtest``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, now_ms


class Monitor(Base):
    __tablename__ = "monitors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    stage: Mapped[str | None] = mapped_column(String(16))
    alias: Mapped[str | None] = mapped_column(String(64))
    reference_dataset_version_id: Mapped[int | None] = mapped_column(Integer)  # None: training data
    columns: Mapped[list[str] | None] = mapped_column(JSON)  # None: every profiled column
    prediction_column: Mapped[str | None] = mapped_column(String(250))
    label_column: Mapped[str | None] = mapped_column(String(250))
    metric: Mapped[str | None] = mapped_column(String(16))
    baseline_metric: Mapped[str | None] = mapped_column(String(250))
    window_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=300)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retrain_on_decay: Mapped[bool] = mapped_column(Boolean, default=False)
    prediction_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    importances: Mapped[dict[str, float] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (UniqueConstraint("model_id", "name"),)


class MonitorReference(Base):
    __tablename__ = "monitor_references"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(Integer)  # no FK: versions may be deleted
    model_version: Mapped[int | None] = mapped_column(Integer)
    dataset_version_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    datasets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, digest, id}]
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    baseline: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class MonitorWindow(Base):
    """One source's summary of one window (a re-post from the same source replaces it)."""

    __tablename__ = "monitor_windows"
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    reference_id: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class MonitorPerformance(Base):
    """One source's performance summary of one window (``_joined`` holds the prediction-id joins)."""

    __tablename__ = "monitor_performance"
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class MonitorWindowResult(Base):
    """The merged window and what was computed from it (``dirty``: inputs changed since)."""

    __tablename__ = "monitor_window_results"
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference_id: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[int | None] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    sources: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"columns": {...}, "dataset": {...}}
    # the heatmap's compact form of ``drift`` (compute.cells_of): per column status, psi and n
    cells: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    performance: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # merged performance summary
    metric: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {value, bound, n, status, ...}
    status: Mapped[str] = mapped_column(String(8), default="ok")
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    alerts_done: Mapped[bool] = mapped_column(Boolean, default=False)  # rules applied since last change
    evaluated_at: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (Index("ix_monitor_window_results_due", "dirty", "closed"),)


class MonitorPrediction(Base):
    """A prediction id and its predicted value, kept for the label join for a retention period."""

    __tablename__ = "monitor_predictions"
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True)
    prediction_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)  # numeric prediction
    predicted: Mapped[str | None] = mapped_column(String(250))  # a class label
    label: Mapped[str | None] = mapped_column(String(250))  # set when the ground truth arrives
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (
        Index("ix_monitor_predictions_window", "monitor_id", "window_start"),
        Index("ix_monitor_predictions_created", "created_at"),
    )


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # monitor | abtest
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    ab_test_id: Mapped[int | None] = mapped_column(Integer)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    column: Mapped[str | None] = mapped_column(String(250))
    severity: Mapped[str] = mapped_column(String(8))  # warn | alert
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    dedup_key: Mapped[str] = mapped_column(String(400))  # kind:subject:rule:column
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_window: Mapped[int | None] = mapped_column(BigInteger)
    last_window: Mapped[int | None] = mapped_column(BigInteger)
    last_clean_window: Mapped[int | None] = mapped_column(BigInteger)
    clean_windows: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[int | None] = mapped_column(BigInteger)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[int | None] = mapped_column(BigInteger)
    resolve_comment: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        Index("ix_alerts_monitor_status", "monitor_id", "status"),
        Index("ix_alerts_model_status", "model_id", "status"),
        # At most one unresolved alert per (kind, subject, rule, column): the dedup rule.
        Index(
            "uq_alerts_one_unresolved",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )
