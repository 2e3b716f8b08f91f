"""A window's recomputation, in three parts so the evaluator can run the costly middle one outside
any transaction (``workers.monitoring.evaluate_monitor_staged``): ``gather`` reads a batch of
windows' inputs (plain values, no ORM object escapes), ``compute_windows`` computes many windows at
once with no session (the drift statistics of every column of every window sharing a reference are
one ``compute.drifts_of`` batch), ``store`` writes one result. ``refresh`` does all three for one
window in one session; ``store_batch`` is the staged pass's write step, which skips the windows
posted to (or evaluated by another process) since they were read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from ...models.monitoring import (
    Monitor,
    MonitorPerformance,
    MonitorReference,
    MonitorWindow,
    MonitorWindowResult,
)
from . import compute, references
from .monitors import split_thresholds
from .windows import window_ms

WINDOW_BATCH = 100  # windows gathered, computed and stored together
# what a recomputation needs to know before it overwrites the computed fields
STATE_ONLY = (
    load_only(
        MonitorWindowResult.window_start,
        MonitorWindowResult.updated_at,
        MonitorWindowResult.dirty,
        MonitorWindowResult.closed,
    ),
)


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
