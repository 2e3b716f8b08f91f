"""Read side for the API and the UI: drift and performance per window, the reference-change
markers, and one column's reference-vs-window histogram. Dirty (open or late) windows are
recomputed in memory for the answer, never written by a read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound
from ...models import now_ms
from ...models.monitoring import Monitor, MonitorReference, MonitorWindowResult
from ...stats import tolerance
from ...stats.performance import HIGHER_IS_BETTER
from . import references
from .evaluate import refresh
from .monitors import get_monitor, split_thresholds

MAX_WINDOWS = 2000


def _range(frm: int | None, to: int | None, now: int) -> tuple[int, int]:
    to = now + 1 if to is None else to
    frm = 0 if frm is None else frm
    if frm > to:
        raise InvalidArgument("from must not be after to", {"field": "from"})
    return frm, to


def window_results(
    session: Session, monitor: Monitor, frm: int | None, to: int | None, now: int | None = None
) -> tuple[list[MonitorWindowResult], bool]:
    """Results in ``[from, to)``, newest ``MAX_WINDOWS`` (oldest first), dirty ones recomputed."""
    now = now if now is not None else now_ms()
    lo, hi = _range(frm, to, now)
    rows = list(
        session.scalars(
            select(MonitorWindowResult)
            .where(
                MonitorWindowResult.monitor_id == monitor.id,
                MonitorWindowResult.window_start >= lo,
                MonitorWindowResult.window_start < hi,
            )
            .order_by(MonitorWindowResult.window_start.desc())
            .limit(MAX_WINDOWS + 1)
        )
    )
    truncated = len(rows) > MAX_WINDOWS
    rows = rows[:MAX_WINDOWS][::-1]
    for r in rows:
        if r.dirty or not r.closed:
            session.expunge(r)
            refresh(session, monitor, r, now)
    return rows, truncated


def reference_changes(session: Session, monitor_id: int) -> list[dict[str, Any]]:
    refs = session.execute(
        select(
            MonitorReference.id,
            MonitorReference.model_version,
            MonitorReference.created_at,
            MonitorReference.datasets,
        )
        .where(MonitorReference.monitor_id == monitor_id)
        .order_by(MonitorReference.id)
    ).all()
    return [{"reference_id": i, "model_version": v, "created_at": c, "datasets": d} for i, v, c, d in refs]


def drift(
    session: Session, actor: Principal, monitor_id: int, frm: int | None = None, to: int | None = None
) -> dict[str, Any]:
    monitor = get_monitor(session, actor, monitor_id)
    rows, truncated = window_results(session, monitor, frm, to)
    drift_t = split_thresholds(monitor.thresholds or {})[0]
    windows = []
    for r in rows:
        d = r.drift or {"columns": {}, "dataset": None, "status": "ok"}
        windows.append(
            {
                "window_start": r.window_start,
                "partial": not r.closed,
                "n": r.n,
                "sources": r.sources,
                "model_version": r.model_version,
                "reference_id": r.reference_id,
                "status": d.get("status", "ok"),
                "columns": d["columns"],
                "dataset": d.get("dataset"),
            }
        )
    importances, source = references.importances_for(
        session, monitor, references.latest_reference(session, monitor.id)
    )
    return {
        "monitor_id": monitor.id,
        "window_seconds": monitor.window_seconds,
        "windows": windows,
        "truncated": truncated,
        "reference_changes": reference_changes(session, monitor.id),
        "importances": importances,  # of the current reference (the page sorts columns by them)
        "importances_from": source,
        "thresholds": {
            "psi_warn": drift_t.psi_warn,
            "psi_alert": drift_t.psi_alert,
            "min_rows": drift_t.min_rows,
        },
    }


def performance(
    session: Session, actor: Principal, monitor_id: int, frm: int | None = None, to: int | None = None
) -> dict[str, Any]:
    monitor = get_monitor(session, actor, monitor_id)
    rows, truncated = window_results(session, monitor, frm, to)
    _, decay_t, _ = split_thresholds(monitor.thresholds or {})
    windows = []
    for r in rows:
        m = r.metric
        if m is None:
            continue
        base = m.get("baseline")
        windows.append(
            {
                "window_start": r.window_start,
                "partial": not r.closed,
                "value": m.get("value"),
                "bound": m.get("bound"),
                "baseline": base,
                "tolerance": tolerance(base, decay_t) if base is not None else None,
                "n": m.get("n", 0),
                "status": m.get("status", "ok") if r.closed else "ok",
                "model_version": r.model_version,
            }
        )
    latest = references.latest_reference(session, monitor.id)
    return {
        "monitor_id": monitor.id,
        "metric": monitor.metric,
        # the live version's validation metric (per window too: it changes with the version)
        "baseline": latest.baseline if latest is not None else None,
        "higher_is_better": HIGHER_IS_BETTER.get(monitor.metric or "", None),
        "windows": windows,
        "truncated": truncated,
        "reference_changes": reference_changes(session, monitor.id),
    }


def _labels_numeric(ref: dict[str, Any]) -> list[str]:
    e = ref["bin_edges"]
    inner = [f"[{e[i]:.4g}, {e[i + 1]:.4g})" for i in range(len(e) - 1)]
    return [
        f"< {ref['min']:.4g}",
        f"[{ref['min']:.4g}, {e[0]:.4g})",
        *inner,
        f"[{e[-1]:.4g}, {ref['max']:.4g}]",
        f"> {ref['max']:.4g}",
        "missing",
        "invalid",
    ]


def histogram(
    session: Session, actor: Principal, monitor_id: int, window_start: int, column: str
) -> dict[str, Any]:
    """Reference vs window shares of one column's buckets (the drift buckets, in order)."""
    monitor = get_monitor(session, actor, monitor_id)
    r = session.get(MonitorWindowResult, (monitor.id, window_start))
    if r is None:
        raise NotFound(f"Monitor {monitor_id} has no data for window {window_start}")
    if r.dirty or not r.closed:
        session.expunge(r)
        refresh(session, monitor, r, now_ms())
    ref = session.get(MonitorReference, r.reference_id) if r.reference_id else None
    if ref is None or not r.summary or column not in ref.profile["columns"]:
        raise NotFound(f"Column {column!r} is not monitored in this window", {"column": column})
    rc, wc = ref.profile["columns"][column], r.summary["columns"].get(column)
    if wc is None:
        raise NotFound(f"Column {column!r} is missing from this window", {"column": column})
    if rc["kind"] == "numeric":
        labels = _labels_numeric(rc)
        rv = [0, *rc["bin_counts"], 0, rc.get("nulls", 0), 0]
        wv = [wc["below"], *wc["counts"], wc["above"], wc["nulls"] + wc["nan"], wc["invalid"]]
    else:
        labels = [str(v) for v, _ in rc["top"]] + ["other", "missing"]
        rv = [c for _, c in rc["top"]] + [rc.get("other", 0), rc.get("nulls", 0)]
        wv = [*wc["counts"], wc["other"], wc["nulls"]]
    rt, wt = sum(rv) or 1, sum(wv) or 1
    return {
        "monitor_id": monitor.id,
        "window_start": window_start,
        "column": column,
        "kind": rc["kind"],
        "reference_id": ref.id,
        # parallel lists, in the drift buckets' order: labels, reference shares, window shares
        "buckets": labels,
        "reference": [a / rt for a in rv],
        "window": [b / wt for b in wv],
        "window_counts": wv,
        "n": wc["n"],
        "stats": (r.drift or {}).get("columns", {}).get(column),
    }
