"""Experiments, runs, params, metrics (history + latest summary), tags."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, new_id, now_ms

KEY_LEN = 250
VALUE_LEN = 8000


class Experiment(Base):
    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(KEY_LEN), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, onupdate=now_ms)
    tags: Mapped[list[ExperimentTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ExperimentTag.key"
    )


class ExperimentTag(Base):
    __tablename__ = "experiment_tags"
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(KEY_LEN), default="")
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")
    start_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    parent_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    __table_args__ = (
        Index("ix_runs_experiment_start", "experiment_id", "start_time"),
        Index("ix_runs_parent", "parent_run_id"),
    )


class RunTag(Base):
    __tablename__ = "run_tags"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_run_tags_key_value", "key", "value"),)


class Param(Base):
    __tablename__ = "params"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_params_key_value", "key", "value"),)


class Metric(Base):
    """Full history. NaN is stored as is_nan=True with value 0 (SQLite turns NaN into NULL)."""

    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: one RI check per inserted point cost a third of a batch's database time on
    # PostgreSQL. Writers lock the run row once instead (services.tracking.runs.writable_run), and
    # hard_delete_run removes the points before the run.
    run_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(KEY_LEN))
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    # History reads walk one (run, key) in (step, id) order. SQLite: the index holds every column they
    # read, so a read never visits the table, where a run's keys lie interleaved step by step. Read
    # 10,000 points of one key of ten logged per step: 13.4 -> 8.8 ms (9.5 -> 8.9 ms for a key logged
    # alone); a 1,000-point insert: 3-6% more SQLite time; the file about a fifth larger (migration
    # 0013). PostgreSQL could only skip the table for pages a vacuum has marked all-visible, which
    # fresh points are not, so it keeps the narrow index.
    __table_args__ = (
        Index("ix_metrics_run_key_step", "run_id", "key", "step").ddl_if(dialect="postgresql"),
        Index(
            "ix_metrics_run_key_step_cover", "run_id", "key", "step", "id", "value", "is_nan", "timestamp"
        ).ddl_if(dialect="sqlite"),
    )


class LatestMetric(Base):
    """Per-run latest value of each metric (highest step, then newest timestamp)."""

    __tablename__ = "latest_metrics"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)


class IdempotencyRecord(Base):
    """First response to a request carrying an Idempotency-Key, replayed on repeats."""

    __tablename__ = "idempotency_records"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms, index=True)
