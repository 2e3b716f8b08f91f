"""The evaluator: one pass over the monitors (``evaluate_due``), run by the background worker
every ``monitor_eval_seconds`` and by ``tether monitors evaluate``.

For each monitor it (1) makes sure the reference follows the live version, (2) recomputes every
dirty window (merged summary, drift, metric) and closes windows whose end + grace has passed,
(3) recomputes the decay/z-score statuses over the history of the current model version, and
(4) applies the alert rules to each closed window whose inputs changed, oldest first:
per-column rules (drift, unseen_categories, null_rate, missing_column, type_change) at alert
level, the dataset verdict (and its importance-weighted variant), decay (alert) and the z-score
warning (severity warn). A rule that holds opens or updates the deduplicated alert; a rule that
no longer holds counts a clean window and resolves after 2. A newly opened decay alert on a
monitor with ``retrain_on_decay`` publishes ``retrain.requested``. Finally it prunes prediction
ids older than the retention period.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...errors import FailedPrecondition
from ...models.monitoring import (
    Monitor,
    MonitorPerformance,
    MonitorReference,
    MonitorWindow,
    MonitorWindowResult,
)
from ...stats import evaluate_history, tolerance
from ...stats.performance import HIGHER_IS_BETTER
from ..events import publish
from ..events import types as events
from . import alerts, compute, references
from .monitors import model_name, split_thresholds
from .windows import prune_predictions, window_ms

logger = logging.getLogger(__name__)

COLUMN_RULES = {
    "psi": "drift",
    "unseen": "unseen_categories",
    "null_rate": "null_rate",
    "missing_column": "missing_column",
    "type": "type_change",
}
HISTORY = 200  # windows of the current version fed to the decay rules


def when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- one window


def refresh(session: Session, monitor: Monitor, result: MonitorWindowResult, now: int) -> None:
    """Merge the window's sources (those binned on its newest reference) and recompute it."""
    drift_t, decay_t, _ = split_thresholds(monitor.thresholds or {})
    rows = list(
        session.scalars(
            select(MonitorWindow)
            .where(MonitorWindow.monitor_id == monitor.id, MonitorWindow.window_start == result.window_start)
            .order_by(MonitorWindow.source)
        )
    )
    rows = [r for r in rows if r.summary]
    ref_id = max((r.reference_id for r in rows), default=None)
    ref = (
        session.get(MonitorReference, ref_id)
        if ref_id is not None
        else references.latest_reference(session, monitor.id)
    )
    used = [r for r in rows if r.reference_id == ref_id]
    summary = compute.merge_all([r.summary for r in used])
    perf = compute.merge_performances(
        list(
            session.scalars(
                select(MonitorPerformance.summary)
                .where(
                    MonitorPerformance.monitor_id == monitor.id,
                    MonitorPerformance.window_start == result.window_start,
                )
                .order_by(MonitorPerformance.source)
            )
        )
    )
    result.reference_id = ref.id if ref else None
    result.model_version = ref.model_version if ref else None
    result.summary, result.n, result.sources = summary, (summary or {}).get("n", 0), len(used)
    result.drift = result.cells = None
    if summary is not None and ref is not None:
        importances, source = references.importances_for(session, monitor, ref)
        drift = compute.drift_of(
            ref.profile,
            summary,
            prediction_column=monitor.prediction_column,
            importances=importances,
            thresholds=drift_t,
        )
        if source is not None:
            drift["dataset"]["importances_from"] = source
        result.drift = drift
    result.cells = compute.cells_of(result.drift)
    result.performance = perf
    result.metric = compute.metric_of(perf, monitor.metric, decay_t.confidence)
    if result.metric is not None and ref is not None:
        result.metric["baseline"] = ref.baseline
    result.status = (result.drift or {}).get("status", "ok")
    result.closed = result.window_start + window_ms(monitor) + monitor.grace_seconds * 1000 <= now
    result.dirty, result.evaluated_at = False, now


# ---------------------------------------------------------------- decay over the history


def decay_history(session: Session, monitor: Monitor, ref: MonitorReference) -> list[MonitorWindowResult]:
    """Recompute decay/z statuses of the current version's windows (closed, oldest first)."""
    if not monitor.metric or ref.baseline is None:
        return []
    _, decay_t, _ = split_thresholds(monitor.thresholds or {})
    hist = list(
        session.scalars(
            select(MonitorWindowResult)
            .where(
                MonitorWindowResult.monitor_id == monitor.id,
                MonitorWindowResult.model_version == ref.model_version,
                MonitorWindowResult.closed.is_(True),
            )
            .order_by(MonitorWindowResult.window_start.desc())
            .limit(HISTORY)
        )
    )[::-1]
    values = [_num((h.metric or {}).get("value")) for h in hist]
    bounds = [_num((h.metric or {}).get("bound")) for h in hist]
    verdicts = evaluate_history(values, bounds, ref.baseline, HIGHER_IS_BETTER[monitor.metric], decay_t)
    for h, v in zip(hist, verdicts, strict=True):
        if h.metric is None:
            continue
        status = v["status"] if not math.isnan(v["value"]) else "ok"
        if h.metric.get("status") != status:
            h.metric = {**h.metric, "status": status, "baseline": ref.baseline}
            h.alerts_done = False
        h.status = compute.worst([(h.drift or {}).get("status", "ok"), status])
    return hist


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else math.nan


# ---------------------------------------------------------------- alert rules


def _fmt(rule: str, col: str, r: dict[str, Any], n: int) -> str:
    v, t = r.get("value") or 0.0, r.get("threshold") or 0.0
    if rule == "drift":
        return f"Column {col!r} drifted: PSI {v:.3f} (alert at {t:.2f}) over {n:,} rows"
    if rule == "unseen_categories":
        return f"Column {col!r}: {v:.1%} of values are categories never seen in training (alert at {t:.0%})"
    if rule == "null_rate":
        return f"Column {col!r}: missing values rose by {v * 100:.1f} points (alert above {t * 100:.0f})"
    if rule == "type_change":
        return f"Column {col!r}: {v:.1%} of values have the wrong type (alert at {t:.0%})"
    return f"Column {col!r} is missing from the production data"


def _apply_rules(
    session: Session,
    monitor: Monitor,
    ref: MonitorReference,
    result: MonitorWindowResult,
    open_keys: set[str],
) -> None:
    ws = result.window_start
    hits: dict[tuple[str, str | None], tuple[str, str, dict[str, Any]]] = {}
    drift = result.drift or {}
    for col, c in drift.get("columns", {}).items():
        for r in c.get("reasons", []):
            rule = COLUMN_RULES.get(r["rule"])
            if rule and r["status"] == "alert":
                hits[(rule, col)] = (
                    "alert",
                    _fmt(rule, col, r, c.get("n", 0)),
                    {
                        "column_stats": {
                            k: c.get(k)
                            for k in ("psi", "js", "ks", "wasserstein", "n", "null_rate", "noise_floor")
                        },
                        **r,
                    },
                )
    ds = drift.get("dataset") or {}
    if (
        drift
        and ds.get("drifted_share") is not None
        and (ds["status"] == "alert")
        and not ds.get("weighted_drifted")
    ):
        hits[("dataset_drift", None)] = (
            "alert",
            (
                f"Dataset drift: {ds['drifted_share']:.0%} of monitored columns drifted "
                f"({', '.join(ds['drifted_columns'][:10]) or 'the prediction column'})"
            ),
            ds,
        )
    if ds.get("weighted_drifted"):
        hits[("dataset_drift_weighted", None)] = (
            "alert",
            (
                f"Dataset drift weighted by feature importance: drifted columns "
                f"({', '.join(ds['drifted_columns'][:10]) or 'none'}) carry {ds['weighted_share']:.0%} "
                f"of the model's importance (importances: {ds.get('importances_from', 'monitor')})"
            ),
            ds,
        )
    m = result.metric or {}
    if m.get("status") in ("alert", "warn") and ref.baseline is not None:
        hib = HIGHER_IS_BETTER[monitor.metric or "accuracy"]
        _, decay_t, _ = split_thresholds(monitor.thresholds or {})
        tol = tolerance(ref.baseline, decay_t)
        if m["status"] == "alert":
            hits[("decay", None)] = (
                "alert",
                (
                    f"Model decay: {monitor.metric} {m['value']:.4f} (even its {'upper' if hib else 'lower'} 95% bound "
                    f"{m['bound']:.4f}) is worse than the baseline {ref.baseline:.4f} by more than {tol:.4f} "
                    f"for {decay_t.consecutive} windows on {m['n']:,} labelled rows"
                ),
                m,
            )
        else:
            hits[("decay_warning", None)] = (
                "warn",
                (
                    f"{monitor.metric} {m['value']:.4f} is more than {decay_t.z:g} standard deviations worse than "
                    f"its recent history (warning)"
                ),
                m,
            )
    for (rule, col), (severity, msg, details) in hits.items():
        existing = alerts._unresolved(session, alerts.dedup_key("monitor", monitor.id, rule, col))
        since = existing.first_window if existing is not None and existing.first_window is not None else ws
        message = f"{msg}, in the window of {when(ws)}, since {when(since)}."
        alert, created = alerts.open_or_update_ex(
            session,
            kind="monitor",
            model_id=monitor.model_id,
            rule=rule,
            severity=severity,
            message=message,
            details={**details, "window_start": ws, "model_version": result.model_version},
            monitor_id=monitor.id,
            column=col,
            window=ws,
        )
        open_keys.add(alert.dedup_key)
        if created and rule == "decay" and monitor.retrain_on_decay:
            _request_retrain(session, monitor, ref, alert.id, m)
    for key in list(open_keys):
        _, _, rule, col = key.split(":", 3)
        if (rule, col or None) not in hits:
            a = alerts.record_clean(
                session, kind="monitor", rule=rule, column=col or None, monitor_id=monitor.id, window=ws
            )
            if a is None or a.status == "resolved":
                open_keys.discard(key)
    result.alerts_done = True


def _request_retrain(
    session: Session, monitor: Monitor, ref: MonitorReference, alert_id: int, metric: dict[str, Any]
) -> None:
    publish(
        session,
        events.RetrainRequested(
            actor=None,
            model=model_name(session, monitor),
            version=ref.model_version,
            stage=monitor.stage,
            alias=monitor.alias,
            training_datasets=[{"name": d["name"], "digest": d["digest"]} for d in ref.datasets],
            monitor_id=monitor.id,
            alert_id=alert_id,
            metric=metric,
        ),
    )


# ---------------------------------------------------------------- the pass


def evaluate_monitor(session: Session, monitor: Monitor, now: int) -> int:
    ref: MonitorReference | None
    try:
        ref = references.current_reference(session, monitor)
    except FailedPrecondition:
        ref = references.latest_reference(session, monitor.id)
    horizon = now - window_ms(monitor) - monitor.grace_seconds * 1000
    due = list(
        session.scalars(
            select(MonitorWindowResult)
            .where(
                MonitorWindowResult.monitor_id == monitor.id,
                or_(
                    MonitorWindowResult.dirty.is_(True),
                    (MonitorWindowResult.closed.is_(False)) & (MonitorWindowResult.window_start <= horizon),
                ),
            )
            .order_by(MonitorWindowResult.window_start)
        )
    )
    for r in due:
        refresh(session, monitor, r, now)
    session.flush()  # the sessions do not autoflush: the queries below must see the refreshed rows
    if ref is not None:
        decay_history(session, monitor, ref)
        session.flush()
        pending = list(
            session.scalars(
                select(MonitorWindowResult)
                .where(
                    MonitorWindowResult.monitor_id == monitor.id,
                    MonitorWindowResult.closed.is_(True),
                    MonitorWindowResult.alerts_done.is_(False),
                )
                .order_by(MonitorWindowResult.window_start)
            )
        )
        open_keys = {
            a.dedup_key for a in alerts.unresolved_for(session, kind="monitor", subject_id=monitor.id)
        }
        for r in pending:
            r_ref = (
                ref
                if r.reference_id in (None, ref.id)
                else (session.get(MonitorReference, r.reference_id) or ref)
            )
            _apply_rules(session, monitor, r_ref, r, open_keys)
    prune_predictions(session, monitor, now)
    session.flush()
    return len(due)


def evaluate_due(session: Session, now_ms: int, monitor_ids: list[int] | None = None) -> int:
    """One evaluator pass; returns the number of windows (re)computed. Never commits. Monitors are
    claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes share the work."""
    q = select(Monitor).order_by(Monitor.id)
    if monitor_ids is not None:
        q = q.where(Monitor.id.in_(monitor_ids))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    total = 0
    for monitor in session.scalars(q).all():
        total += evaluate_monitor(session, monitor, now_ms)
    return total
