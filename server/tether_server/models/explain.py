"""Explanations: what a model relies on (global importances per feature, optionally per class), for a
run or a registered version, and the optional sample of local (per-prediction) attributions.

A row belongs to exactly one owner: a run (``run_id``) or a model version (``version_id``). A run's
explanation is copied to every version registered from it, so later edits to the run never change
what a version (in Production, say) was approved with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, now_ms


class Explanation(Base):
    __tablename__ = "explanations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # no FK: runs may be purged
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), unique=True
    )
    method: Mapped[str] = mapped_column(String(100))
    importances: Mapped[dict[str, float]] = mapped_column(JSON)
    per_class: Mapped[dict[str, dict[str, float]] | None] = mapped_column(JSON)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {dataset_version_id?, name?, hash?}
    n_features: Mapped[int] = mapped_column(Integer)
    source_run_id: Mapped[str | None] = mapped_column(String(32))  # copied from this run's explanation
    # the optional local-explanation sample (a Parquet object in the artifact store)
    local_key: Mapped[str | None] = mapped_column(String(1500))
    local_rows: Mapped[int | None] = mapped_column(Integer)
    local_size: Mapped[int | None] = mapped_column(BigInteger)
    local_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
