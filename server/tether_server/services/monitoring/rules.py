"""The alert step of the evaluator pass: the decay/z-score statuses recomputed over the history of
the current model version (``decay_history``), and the alert rules applied to each closed window
whose inputs changed, oldest first (``pending_alerts``, ``apply_alerts``): per-column rules (drift,
unseen_categories, null_rate, missing_column, type_change) at alert level, the dataset verdict (and
its importance-weighted variant), decay (alert) and the z-score warning (severity warn). A rule that
holds opens or updates the deduplicated alert (``alerts``); a rule that no longer holds counts a
clean window and resolves after 2. A newly opened decay alert on a monitor with
``retrain_on_decay`` publishes ``retrain.requested``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from ...models.monitoring import Monitor, MonitorReference, MonitorWindowResult
from ...stats import evaluate_history, tolerance
from ...stats.performance import HIGHER_IS_BETTER
from ..events import publish
from ..events import types as events
from . import alerts, compute
from .monitors import model_name, split_thresholds

COLUMN_RULES = {
    "psi": "drift",
    "unseen": "unseen_categories",
    "null_rate": "null_rate",
    "missing_column": "missing_column",
    "type": "type_change",
}
HISTORY = 200  # windows of the current version fed to the decay rules
ALERT_BATCH = 100  # windows whose alert rules are applied in one transaction
# what the alert and decay steps read of a result (not its merged summary, performance, cells)
NO_INPUTS = (
    defer(MonitorWindowResult.summary),
    defer(MonitorWindowResult.performance),
    defer(MonitorWindowResult.cells),
)


def when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


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
            .options(*NO_INPUTS)
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


# ---------------------------------------------------------------- the alert step of the pass


def pending_alerts(session: Session, monitor: Monitor, limit: int | None = None) -> list[MonitorWindowResult]:
    q = (
        select(MonitorWindowResult)
        .where(
            MonitorWindowResult.monitor_id == monitor.id,
            MonitorWindowResult.closed.is_(True),
            MonitorWindowResult.alerts_done.is_(False),
        )
        .order_by(MonitorWindowResult.window_start)
        .options(*NO_INPUTS)
    )
    return list(session.scalars(q if limit is None else q.limit(limit)))


def apply_alerts(
    session: Session, monitor: Monitor, ref: MonitorReference, pending: list[MonitorWindowResult]
) -> None:
    open_keys = {a.dedup_key for a in alerts.unresolved_for(session, kind="monitor", subject_id=monitor.id)}
    for r in pending:
        r_ref = (
            ref
            if r.reference_id in (None, ref.id)
            else (session.get(MonitorReference, r.reference_id) or ref)
        )
        _apply_rules(session, monitor, r_ref, r, open_keys)
