"""Monitors: create, read, update, delete, with the model's grants (writers need EDIT on the model
to create/change a monitor; READ to view it; another team's monitor is 404)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...models import DatasetVersion, now_ms
from ...models.monitoring import Monitor
from ...models.registry import RegisteredModel
from ...stats import DecayThresholds, DriftThresholds
from ...stats.performance import HIGHER_IS_BETTER
from ..events import publish
from ..events import types as events
from ..identity import permissions
from ..registry import catalog

SETTINGS = (
    "columns",
    "prediction_column",
    "label_column",
    "metric",
    "baseline_metric",
    "window_seconds",
    "grace_seconds",
    "thresholds",
    "retrain_on_decay",
    "prediction_retention_days",
    "importances",
)
EXTRA_THRESHOLDS = {"score_threshold": 0.5}  # binary label join: predicted positive at score >= this


def split_thresholds(raw: dict[str, Any]) -> tuple[DriftThresholds, DecayThresholds, dict[str, Any]]:
    drift = {k: v for k, v in raw.items() if k in DriftThresholds.__dataclass_fields__}
    decay = {k: v for k, v in raw.items() if k in DecayThresholds.__dataclass_fields__}
    extra = {**EXTRA_THRESHOLDS, **{k: v for k, v in raw.items() if k in EXTRA_THRESHOLDS}}
    return DriftThresholds(**drift), DecayThresholds(**decay), extra


def _check_thresholds(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidArgument("thresholds must be an object", {"field": "thresholds"})
    known = {*DriftThresholds.__dataclass_fields__, *DecayThresholds.__dataclass_fields__, *EXTRA_THRESHOLDS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidArgument(
            f"Unknown thresholds {unknown}", {"field": "thresholds", "known": sorted(known)}
        )
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise InvalidArgument(f"thresholds.{k} must be a number", {"field": f"thresholds.{k}"})
    try:
        split_thresholds(raw)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"thresholds: {e}", {"field": "thresholds"}) from None
    return dict(raw)


def _check(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "thresholds" in out:
        out["thresholds"] = _check_thresholds(out["thresholds"] or {})
    metric = out.get("metric")
    if metric is not None and metric not in HIGHER_IS_BETTER:
        raise InvalidArgument(f"metric must be one of {sorted(HIGHER_IS_BETTER)}", {"field": "metric"})
    imp = out.get("importances")
    if imp is not None and (
        not isinstance(imp, dict)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in imp.values())
    ):
        raise InvalidArgument("importances must map column names to numbers", {"field": "importances"})
    return out


def _reference_dataset(session: Session, ref: Any) -> int | None:
    if ref is None:
        return None
    dv_id = ref.get("dataset_version_id") if isinstance(ref, dict) else None
    if not isinstance(dv_id, int) or isinstance(dv_id, bool) or session.get(DatasetVersion, dv_id) is None:
        raise InvalidArgument(
            "reference.dataset_version_id must name an existing dataset version", {"field": "reference"}
        )
    return dv_id


def create_monitor(session: Session, actor: Principal, body: dict[str, Any], request_id: str = "") -> Monitor:
    model = catalog.get_model(session, actor, body["model"], "EDIT")
    stage, alias = body.get("stage"), body.get("alias")
    if (stage is None) == (alias is None):
        raise InvalidArgument("Give exactly one of stage or alias", {"fields": ["stage", "alias"]})
    name = body["name"]
    if session.scalar(select(Monitor.id).where(Monitor.model_id == model.id, Monitor.name == name)):
        raise AlreadyExists(f"Model {model.name!r} already has a monitor named {name!r}")
    values = _check(session, {k: body[k] for k in SETTINGS if body.get(k) is not None})
    monitor = Monitor(
        name=name,
        model_id=model.id,
        stage=catalog.canonical_stage(stage) if stage is not None else None,
        alias=catalog.check_alias(alias) if alias is not None else None,
        reference_dataset_version_id=_reference_dataset(session, body.get("reference")),
        created_by=actor.id,
        **{"thresholds": {}, **values},
    )
    session.add(monitor)
    session.flush()
    publish(
        session,
        events.MonitorCreated(
            actor=actor, model=model.name, monitor_id=monitor.id, name=name, request_id=request_id
        ),
    )
    return monitor


def get_monitor(session: Session, actor: Principal, monitor_id: int, level: str = "READ") -> Monitor:
    monitor = session.get(Monitor, monitor_id)
    if monitor is None:
        raise NotFound(f"Monitor {monitor_id} not found")
    permissions.require(session, actor, "model", monitor.model_id, level, f"Monitor {monitor_id}")
    return monitor


def list_monitors(
    session: Session,
    actor: Principal,
    *,
    model: str | None = None,
    page_token: int | None = None,
    max_results: int = 100,
) -> tuple[list[Monitor], int | None]:
    q = select(Monitor).where(permissions.filter_clause(actor, "model", Monitor.model_id, "READ"))
    if model is not None:
        q = q.join(RegisteredModel, RegisteredModel.id == Monitor.model_id).where(
            RegisteredModel.name == model
        )
    if page_token is not None:
        q = q.where(Monitor.id > page_token)
    limit = max(1, min(max_results, 1000))
    rows = list(session.scalars(q.order_by(Monitor.id).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def update_monitor(
    session: Session, actor: Principal, monitor_id: int, body: dict[str, Any], request_id: str = ""
) -> Monitor:
    monitor = get_monitor(session, actor, monitor_id, "EDIT")
    values = _check(session, {k: body[k] for k in SETTINGS if k in body})
    if "reference" in body:
        monitor.reference_dataset_version_id = _reference_dataset(session, body["reference"])
    if "name" in body and body["name"] != monitor.name:
        if session.scalar(
            select(Monitor.id).where(Monitor.model_id == monitor.model_id, Monitor.name == body["name"])
        ):
            raise AlreadyExists(f"This model already has a monitor named {body['name']!r}")
        monitor.name = body["name"]
    for k, v in values.items():
        setattr(monitor, k, v if v is not None or k not in ("thresholds",) else {})
    monitor.updated_at = now_ms()
    publish(
        session,
        events.MonitorUpdated(
            actor=actor,
            model=model_name(session, monitor),
            monitor_id=monitor.id,
            name=monitor.name,
            changes=sorted(k for k in body if k in (*SETTINGS, "name", "reference")),
            request_id=request_id,
        ),
    )
    return monitor


def delete_monitor(session: Session, actor: Principal, monitor_id: int, request_id: str = "") -> None:
    monitor = get_monitor(session, actor, monitor_id, "EDIT")
    publish(
        session,
        events.MonitorDeleted(
            actor=actor,
            model=model_name(session, monitor),
            monitor_id=monitor.id,
            name=monitor.name,
            request_id=request_id,
        ),
    )
    session.delete(monitor)
    session.flush()


def model_name(session: Session, monitor: Monitor) -> str:
    return session.scalar(select(RegisteredModel.name).where(RegisteredModel.id == monitor.model_id)) or ""


def monitor_json(monitor: Monitor, model: str) -> dict[str, Any]:
    return {
        "id": monitor.id,
        "name": monitor.name,
        "model": model,
        "stage": monitor.stage,
        "alias": monitor.alias,
        "reference": (
            {"dataset_version_id": monitor.reference_dataset_version_id}
            if monitor.reference_dataset_version_id is not None
            else None
        ),
        **{k: getattr(monitor, k) for k in SETTINGS},
        "created_at": monitor.created_at,
        "updated_at": monitor.updated_at,
    }
