"""A global explanation (feature importances) of a run or a model version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .registry import _ItemAccess


@dataclass(frozen=True, slots=True)
class Explanation(_ItemAccess):
    """A global explanation: importance per feature (largest |importance| first) and its method."""

    importances: dict[str, float]
    method: str
    n_features: int = 0
    dataset: dict[str, Any] | None = None
    per_class: dict[str, dict[str, float]] | None = None
    top_features: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None
    model: str | None = None
    version: int | None = None
    source_run_id: str | None = None
    local_sample: dict[str, Any] | None = None
    updated_at: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Explanation:
        return cls(
            importances={k: float(v) for k, v in (d.get("importances") or {}).items()},
            method=d.get("method") or "",
            n_features=int(d.get("n_features") or 0),
            dataset=d.get("dataset"),
            per_class=d.get("per_class"),
            top_features=list(d.get("top_features") or []),
            run_id=d.get("run_id"),
            model=d.get("model"),
            version=d.get("version"),
            source_run_id=d.get("source_run_id"),
            local_sample=d.get("local_sample"),
            updated_at=d.get("updated_at"),
        )
