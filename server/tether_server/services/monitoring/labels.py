"""Ground truth posted to a monitor (``POST /monitors/{id}/labels``): per-prediction labels joined to
the prediction ids kept from raw rows, or per-window performance summaries; and the pruning of kept
prediction ids past their retention."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tether.monitoring import binary_summary, multiclass_summary, regression_summary, validate_performance

from ..._lazy import lazy_module
from ...access import Principal
from ...errors import FailedPrecondition, InvalidArgument
from ...models import now_ms
from ...models.monitoring import Monitor, MonitorPerformance, MonitorPrediction
from .windows import check_source, check_window_start, dialect_insert, mark_dirty, monitor_for_posting

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_LABELS = 10_000
JOINED_SOURCE = "_joined"


def _label_text(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)[:250]


def _as_float(v: str | None) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def joined_summary(
    monitor: Monitor, preds: list[MonitorPrediction], score_threshold: float
) -> dict[str, Any] | None:
    """The performance summary of a window's labelled predictions, for the monitor's metric."""
    if not preds:
        return None
    metric = monitor.metric or "accuracy"
    labels = [p.label for p in preds]
    if metric in ("rmse", "mae"):
        pairs = [(_as_float(p.label), p.score) for p in preds]
        pairs = [(y, s) for y, s in pairs if y is not None and s is not None]
        return regression_summary([y for y, _ in pairs], [s for _, s in pairs]) if pairs else None  # type: ignore[misc]
    binary = all(lbl in ("0", "1") for lbl in labels) and all(p.score is not None for p in preds)
    if binary:
        return binary_summary(
            [int(lbl) for lbl in labels],  # type: ignore[arg-type]
            [p.score for p in preds],  # type: ignore[misc]
            threshold=score_threshold,
        )
    if metric != "accuracy":
        return None
    return multiclass_summary(labels, [p.predicted for p in preds])


def _join_labels(session: Session, monitor: Monitor, labels: Any, score_threshold: float) -> dict[str, Any]:
    if not monitor.label_column:
        raise FailedPrecondition("This monitor has no label_column, so it keeps no prediction ids to join")
    if not isinstance(labels, list) or not labels or len(labels) > MAX_LABELS:
        raise InvalidArgument(f"labels must be a list of 1-{MAX_LABELS} objects", {"field": "labels"})
    wanted: dict[str, str] = {}
    for i, item in enumerate(labels):
        if not isinstance(item, dict) or item.get("prediction_id") is None or item.get("label") is None:
            raise InvalidArgument(f"labels[{i}] needs prediction_id and label", {"field": f"labels[{i}]"})
        wanted[str(item["prediction_id"])[:200]] = _label_text(item["label"])
    found: list[MonitorPrediction] = []
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        found += session.scalars(
            select(MonitorPrediction).where(
                MonitorPrediction.monitor_id == monitor.id,
                MonitorPrediction.prediction_id.in_(keys[i : i + 500]),
            )
        )
    for p in found:
        p.label = wanted[p.prediction_id]
    session.flush()
    windows = sorted({p.window_start for p in found})
    for ws in windows:
        preds = list(
            session.scalars(
                select(MonitorPrediction).where(
                    MonitorPrediction.monitor_id == monitor.id,
                    MonitorPrediction.window_start == ws,
                    MonitorPrediction.label.is_not(None),
                )
            )
        )
        summary = joined_summary(monitor, preds, score_threshold)
        if summary is not None:
            _upsert_performance(session, monitor.id, ws, JOINED_SOURCE, summary)
    mark_dirty(session, monitor.id, windows)
    return {"matched": len(found), "unmatched": len(wanted) - len(found), "windows": windows}


def _upsert_performance(
    session: Session, monitor_id: int, ws: int, source: str, summary: dict[str, Any]
) -> None:
    values = {"summary": summary, "received_at": now_ms()}
    stmt = dialect_insert(session)(MonitorPerformance).values(
        monitor_id=monitor_id, window_start=ws, source=source, **values
    )
    session.execute(
        stmt.on_conflict_do_update(index_elements=["monitor_id", "window_start", "source"], set_=values)
    )


def post_labels(
    session: Session, actor: Principal, monitor_id: int, body: dict[str, Any], now: int | None = None
) -> dict[str, Any]:
    from .monitors import split_thresholds

    now = now if now is not None else now_ms()
    monitor = monitor_for_posting(session, actor, monitor_id)
    if "labels" in body:
        extra = split_thresholds(monitor.thresholds or {})[2]
        return {
            "monitor_id": monitor.id,
            **_join_labels(session, monitor, body["labels"], extra["score_threshold"]),
        }
    ws = check_window_start(monitor, body.get("window_start"), now)
    source = check_source(body.get("source"))
    try:
        summary = validate_performance(body.get("performance"))
    except ValueError as e:
        raise InvalidArgument(f"performance: {e}", {"field": "performance"}) from None
    _upsert_performance(session, monitor.id, ws, source, summary)
    mark_dirty(session, monitor.id, [ws])
    return {"monitor_id": monitor.id, "window_start": ws, "source": source}


def prune_predictions(session: Session, monitor: Monitor, now: int) -> int:
    from sqlalchemy import delete

    cutoff = now - monitor.prediction_retention_days * 86_400_000
    res = session.execute(
        delete(MonitorPrediction).where(
            MonitorPrediction.monitor_id == monitor.id, MonitorPrediction.created_at < cutoff
        )
    )
    return res.rowcount or 0  # type: ignore[attr-defined]


_ = update
