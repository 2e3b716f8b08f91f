"""The evaluator: one pass over the monitors. ``evaluate_due(session, now)`` runs it in the
caller's session (tests, scripts); the background worker (every ``monitor_eval_seconds``) and
``tether monitors evaluate`` run the same steps in short transactions of their own
(``workers.monitoring.evaluate_staged``: no transaction is open while the drift is computed).

For each monitor it (1) makes sure the reference follows the live version, (2) recomputes every
dirty window (merged summary, drift, metric) and closes windows whose end + grace has passed,
(3) recomputes the decay/z-score statuses over the history of the current model version, and
(4) applies the alert rules to each closed window whose inputs changed, oldest first:
per-column rules (drift, unseen_categories, null_rate, missing_column, type_change) at alert
level, the dataset verdict (and its importance-weighted variant), decay (alert) and the z-score
warning (severity warn). A rule that holds opens or updates the deduplicated alert; a rule that
no longer holds counts a clean window and resolves after 2. A newly opened decay alert on a
monitor with ``retrain_on_decay`` publishes ``retrain.requested``. Finally it prunes prediction
ids older than the retention period. The drift statistics of a batch of windows (every column of
every window) are computed at once (``compute.drifts_of``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, defer, load_only

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
from .labels import prune_predictions
from .monitors import model_name, split_thresholds
from .windows import window_ms

logger = logging.getLogger(__name__)

COLUMN_RULES = {
    "psi": "drift",
    "unseen": "unseen_categories",
    "null_rate": "null_rate",
    "missing_column": "missing_column",
    "type": "type_change",
}
HISTORY = 200  # windows of the current version fed to the decay rules
# what the alert and decay steps read of a result (not its merged summary, performance, cells) ...
NO_INPUTS = (
    defer(MonitorWindowResult.summary),
    defer(MonitorWindowResult.performance),
    defer(MonitorWindowResult.cells),
)
# ... and what a recomputation needs to know before it overwrites the computed fields
STATE_ONLY = (
    load_only(
        MonitorWindowResult.window_start,
        MonitorWindowResult.updated_at,
        MonitorWindowResult.dirty,
        MonitorWindowResult.closed,
    ),
)


def when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- windows: read, compute, store
#
# A window's recomputation is split in three so the evaluator can run the costly middle part outside
# any transaction (``evaluate_monitor_staged``): ``gather`` reads its inputs (plain values, no ORM
# object escapes), ``compute_windows`` computes many windows at once with no session, ``store``
# writes the result. ``refresh`` does all three for one window in one session.


@dataclass
class WindowInputs:
    window_start: int
    updated_at: int  # of the result row when read: a post since then changes it
    summaries: list[Mapping[str, Any]]
    performances: list[Mapping[str, Any]]
    ref: dict[str, Any] | None  # {id, model_version, baseline, profile, importances, importances_from}


def _ref_inputs(session: Session, monitor: Monitor, ref: MonitorReference | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    importances, source = references.importances_for(session, monitor, ref)
    return {
        "id": ref.id,
        "model_version": ref.model_version,
        "baseline": ref.baseline,
        "profile": ref.profile,
        "importances": importances,
        "importances_from": source,
    }


def gather(
    session: Session,
    monitor: Monitor,
    windows: list[tuple[int, int]],
    refs: dict[int | None, dict[str, Any] | None] | None = None,
) -> list[WindowInputs]:
    """The inputs of the ``(window_start, updated_at)`` windows: their sources binned on each
    window's newest reference, the performance summaries, and that reference."""
    refs = {} if refs is None else refs
    starts = [ws for ws, _ in windows]
    by_ws: dict[int, list[MonitorWindow]] = {ws: [] for ws in starts}
    perf: dict[int, list[Mapping[str, Any]]] = {ws: [] for ws in starts}
    for i in range(0, len(starts), 500):
        part = starts[i : i + 500]
        for w in session.scalars(
            select(MonitorWindow)
            .where(MonitorWindow.monitor_id == monitor.id, MonitorWindow.window_start.in_(part))
            .order_by(MonitorWindow.window_start, MonitorWindow.source)
        ):
            by_ws[w.window_start].append(w)
        for ws, summary in session.execute(
            select(MonitorPerformance.window_start, MonitorPerformance.summary)
            .where(MonitorPerformance.monitor_id == monitor.id, MonitorPerformance.window_start.in_(part))
            .order_by(MonitorPerformance.window_start, MonitorPerformance.source)
        ):
            perf[ws].append(summary)
    out = []
    for ws, updated_at in windows:
        rows = [w for w in by_ws[ws] if w.summary]
        ref_id = max((w.reference_id for w in rows), default=None)
        if ref_id not in refs:
            ref = (
                session.get(MonitorReference, ref_id)
                if ref_id is not None
                else references.latest_reference(session, monitor.id)
            )
            refs[ref_id] = _ref_inputs(session, monitor, ref)
        out.append(
            WindowInputs(
                window_start=ws,
                updated_at=updated_at,
                summaries=[w.summary for w in rows if w.reference_id == ref_id],
                performances=perf[ws],
                ref=refs[ref_id],
            )
        )
    return out


def compute_windows(monitor: Monitor, inputs: list[WindowInputs], now: int) -> list[dict[str, Any]]:
    """The stored fields of each window (no session: the drift statistics of all windows sharing a
    reference are one batch)."""
    drift_t, decay_t, _ = split_thresholds(monitor.thresholds or {})
    width = window_ms(monitor) + monitor.grace_seconds * 1000
    out: list[dict[str, Any]] = []
    batches: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for k, w in enumerate(inputs):
        summary = compute.merge_all(w.summaries)
        perf = compute.merge_performances(w.performances)
        ref = w.ref
        metric = compute.metric_of(perf, monitor.metric, decay_t.confidence)
        if metric is not None and ref is not None:
            metric["baseline"] = ref["baseline"]
        out.append(
            {
                "reference_id": ref["id"] if ref else None,
                "model_version": ref["model_version"] if ref else None,
                "summary": summary,
                "n": (summary or {}).get("n", 0),
                "sources": len(w.summaries),
                "drift": None,
                "performance": perf,
                "metric": metric,
                "closed": w.window_start + width <= now,
                "evaluated_at": now,
            }
        )
        if summary is not None and ref is not None:
            batches.setdefault(ref["id"], []).append((k, summary))
    for items in batches.values():
        ref = inputs[items[0][0]].ref
        assert ref is not None
        drifts = compute.drifts_of(
            [(ref["profile"], summary) for _, summary in items],
            prediction_column=monitor.prediction_column,
            importances=ref["importances"],
            thresholds=drift_t,
        )
        for (k, _), drift in zip(items, drifts, strict=True):
            if ref["importances_from"] is not None:
                drift["dataset"]["importances_from"] = ref["importances_from"]
            out[k]["drift"] = drift
    for fields in out:
        fields["cells"] = compute.cells_of(fields["drift"])
        fields["status"] = (fields["drift"] or {}).get("status", "ok")
    return out


def store(result: MonitorWindowResult, fields: dict[str, Any]) -> None:
    for k, v in fields.items():
        setattr(result, k, v)
    result.dirty = False


def refresh(session: Session, monitor: Monitor, result: MonitorWindowResult, now: int) -> None:
    """Merge the window's sources (those binned on its newest reference) and recompute it."""
    inputs = gather(session, monitor, [(result.window_start, result.updated_at)])
    store(result, compute_windows(monitor, inputs, now)[0])


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


# ---------------------------------------------------------------- the pass


def reference_in_force(session: Session, monitor: Monitor) -> MonitorReference | None:
    try:
        return references.current_reference(session, monitor)
    except FailedPrecondition:
        return references.latest_reference(session, monitor.id)


def due_query(monitor: Monitor, now: int) -> Any:
    horizon = now - window_ms(monitor) - monitor.grace_seconds * 1000
    return (
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


def evaluate_monitor(session: Session, monitor: Monitor, now: int) -> int:
    """One monitor's pass in the caller's session (the CLI's and the tests' single transaction);
    ``workers.monitoring.evaluate_monitor_staged`` is the same work in short transactions."""
    ref = reference_in_force(session, monitor)
    due = list(session.scalars(due_query(monitor, now)))
    for i in range(0, len(due), WINDOW_BATCH):
        part = due[i : i + WINDOW_BATCH]
        inputs = gather(session, monitor, [(r.window_start, r.updated_at) for r in part])
        for r, fields in zip(part, compute_windows(monitor, inputs, now), strict=True):
            store(r, fields)
    session.flush()  # the sessions do not autoflush: the queries below must see the refreshed rows
    if ref is not None:
        decay_history(session, monitor, ref)
        session.flush()
        apply_alerts(session, monitor, ref, pending_alerts(session, monitor))
    prune_predictions(session, monitor, now)
    session.flush()
    return len(due)


def evaluate_due(session: Session, now_ms: int, monitor_ids: list[int] | None = None) -> int:
    """One evaluator pass in the caller's session; returns the number of windows (re)computed.
    Never commits. Monitors are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
    processes share the work. The background worker and ``tether monitors evaluate`` run
    ``workers.monitoring.evaluate_staged`` instead, which holds no transaction while it computes."""
    q = select(Monitor).order_by(Monitor.id)
    if monitor_ids is not None:
        q = q.where(Monitor.id.in_(monitor_ids))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    total = 0
    for monitor in session.scalars(q).all():
        total += evaluate_monitor(session, monitor, now_ms)
    return total


# ---------------------------------------------------------------- steps of the pass in short transactions
#
# ``workers.monitoring.evaluate_staged`` runs the pass with these steps. Per monitor: (1) a short write transaction makes sure the reference follows the live version and
# lists the due windows with their ``updated_at``; (2) per batch of WINDOW_BATCH windows, a read
# transaction gathers the inputs, the drift statistics are computed with no transaction open, and a
# short write transaction stores the results -- locking the result rows (PostgreSQL ``FOR UPDATE``;
# SQLite has one writer) and skipping every window that was posted to since it was read (its
# ``updated_at`` changed: it stays dirty and the next pass recomputes it) or that another process
# evaluated meanwhile; (3) the alert rules run in short write transactions of ALERT_BATCH windows,
# each locking the monitor row (PostgreSQL ``FOR UPDATE``) so two processes never apply the rules to
# the same window; ``alerts_done`` is set in the same transaction. The worker claims a monitor for
# the whole pass without a transaction (``workers.monitoring.claim``) so processes do not compute
# the same windows twice; should two ever do (a claim lost), the second store is skipped or writes
# identical values, never a second alert.

WINDOW_BATCH = 100  # windows gathered, computed and stored together
ALERT_BATCH = 100  # windows whose alert rules are applied in one transaction


def lock_monitor(session: Session, monitor_id: int) -> Monitor | None:
    q = select(Monitor).where(Monitor.id == monitor_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return session.scalar(q.execution_options(populate_existing=True))


def store_batch(
    session: Session, monitor: Monitor, inputs: list[WindowInputs], computed: list[dict[str, Any]], now: int
) -> int:
    """Store the computed windows still due and unchanged since they were read; the number stored."""
    horizon = now - window_ms(monitor) - monitor.grace_seconds * 1000
    q = select(MonitorWindowResult).where(
        MonitorWindowResult.monitor_id == monitor.id,
        MonitorWindowResult.window_start.in_([w.window_start for w in inputs]),
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    q = q.options(*STATE_ONLY).execution_options(populate_existing=True)
    rows = {r.window_start: r for r in session.scalars(q)}
    stored = 0
    for w, fields in zip(inputs, computed, strict=True):
        r = rows.get(w.window_start)
        if r is None or r.updated_at != w.updated_at:
            continue  # re-posted since it was read: still dirty, the next pass recomputes it
        if not r.dirty and (r.closed or r.window_start > horizon):
            continue  # another process evaluated it meanwhile
        store(r, fields)
        stored += 1
    return stored
