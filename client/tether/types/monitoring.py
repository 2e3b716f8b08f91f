"""Monitors, their reference profiles, and alerts (of monitors and of A/B tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Monitor:
    """A monitor's settings (``GET /monitors/{id}``); the live handle is ``tether.Monitor``."""

    id: int
    name: str
    model: str = ""
    stage: str | None = None
    alias: str | None = None
    columns: list[str] | None = None
    prediction_column: str | None = None
    label_column: str | None = None
    metric: str | None = None
    window_seconds: int = 3600
    grace_seconds: int = 300
    thresholds: dict[str, Any] = field(default_factory=dict)
    retrain_on_decay: bool = False
    status: str | None = None  # ok | warn | alert, when the server reports it
    created_at: int | None = None
    updated_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields this client does not know

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Monitor:
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra",)}
        return cls(
            id=int(d["id"]),
            name=d["name"],
            model=d.get("model") or "",
            stage=d.get("stage"),
            alias=d.get("alias"),
            columns=list(d["columns"]) if d.get("columns") is not None else None,
            prediction_column=d.get("prediction_column"),
            label_column=d.get("label_column"),
            metric=d.get("metric"),
            window_seconds=int(d.get("window_seconds") or 3600),
            grace_seconds=int(d["grace_seconds"]) if d.get("grace_seconds") is not None else 300,
            thresholds=dict(d.get("thresholds") or {}),
            retrain_on_decay=bool(d.get("retrain_on_decay")),
            status=d.get("status"),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class MonitorReference:
    """What a producer needs to bin data on the reference's edges (``GET /monitors/{id}/reference``)."""

    reference_id: int
    profile: dict[str, Any]
    window_seconds: int = 3600
    columns: list[str] = field(default_factory=list)
    prediction_column: str | None = None
    model_version: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonitorReference:
        profile = dict(d.get("profile") or {})
        return cls(
            reference_id=int(d["reference_id"]),
            profile=profile,
            window_seconds=int(d.get("window_seconds") or 3600),
            columns=list(d.get("columns") or (profile.get("columns") or {}).keys()),
            prediction_column=d.get("prediction_column"),
            model_version=d.get("model_version"),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str
    rule: str
    severity: str
    status: str
    message: str = ""
    column: str | None = None
    monitor_id: int | None = None
    ab_test_id: int | None = None
    model_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    first_window: int | None = None
    last_window: int | None = None
    opened_at: int | None = None
    updated_at: int | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    resolve_comment: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        return cls(
            id=int(d["id"]),
            kind=d.get("kind") or "monitor",
            rule=d["rule"],
            severity=d.get("severity") or "alert",
            status=d.get("status") or "open",
            message=d.get("message") or "",
            column=d.get("column"),
            monitor_id=d.get("monitor_id"),
            ab_test_id=d.get("ab_test_id"),
            model_id=d.get("model_id"),
            details=dict(d.get("details") or {}),
            first_window=d.get("first_window"),
            last_window=d.get("last_window"),
            opened_at=d.get("opened_at"),
            updated_at=d.get("updated_at"),
            acknowledged_by=_user_name(d.get("acknowledged_by")),
            resolved_by=_user_name(d.get("resolved_by")),
            resolve_comment=d.get("resolve_comment") or "",
        )


def _user_name(v: Any) -> str | None:
    if isinstance(v, Mapping):
        return v.get("name") or v.get("username")
    return v
