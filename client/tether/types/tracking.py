"""Experiments, runs and their metrics, and the counts a logging batch returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._encoding import decode_value


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    description: str | None = None
    lifecycle: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int | None = None
    updated_at: int | None = None
    created_by: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Experiment:
        return cls(
            id=int(d["id"]),
            name=d["name"],
            description=d.get("description"),
            lifecycle=d.get("lifecycle", "active"),
            tags=dict(d.get("tags") or {}),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            created_by=d.get("created_by"),
        )


@dataclass(frozen=True, slots=True)
class MetricPoint:
    step: int
    value: float
    timestamp: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricPoint:
        return cls(
            step=int(d.get("step") or 0),
            value=decode_value(d["value"]),
            timestamp=int(d.get("timestamp") or 0),
        )


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    experiment_id: int
    name: str | None = None
    status: str = "RUNNING"
    lifecycle: str = "active"
    start_time: int | None = None
    end_time: int | None = None
    parent_run_id: str | None = None
    created_by: Any = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricPoint] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        metrics = {k: MetricPoint.from_dict(v) for k, v in (d.get("metrics") or {}).items()}
        return cls(
            id=str(d["id"]),
            experiment_id=int(d["experiment_id"]),
            name=d.get("name"),
            status=d.get("status", "RUNNING"),
            lifecycle=d.get("lifecycle", "active"),
            start_time=d.get("start_time"),
            end_time=d.get("end_time"),
            parent_run_id=d.get("parent_run_id"),
            created_by=d.get("created_by"),
            params=dict(d.get("params") or {}),
            tags=dict(d.get("tags") or {}),
            metrics=metrics,
        )


@dataclass(frozen=True, slots=True)
class MetricHistory:
    key: str
    items: list[MetricPoint]
    next_page_token: str | None = None
    downsampled: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricHistory:
        """From the row form (``items``) or the columnar form (``steps``, ``values``, ``timestamps``)."""
        if "steps" in d:
            items = [
                MetricPoint(step, decode_value(value), ts)
                for step, value, ts in zip(d["steps"], d["values"], d["timestamps"], strict=True)
            ]
        else:
            items = [MetricPoint.from_dict(p) for p in d.get("items") or []]
        return cls(
            key=d.get("key", ""),
            items=items,
            next_page_token=d.get("next_page_token"),
            downsampled=bool(d.get("downsampled", False)),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    metrics: int = 0
    params: int = 0
    tags: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BatchResult:
        return cls(
            metrics=int(d.get("metrics", 0)), params=int(d.get("params", 0)), tags=int(d.get("tags", 0))
        )

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(self.metrics + other.metrics, self.params + other.params, self.tags + other.tags)
