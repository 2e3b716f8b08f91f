"""Read side for the API and the UI: drift and performance per window, the reference-change
markers, and one column's reference-vs-window histogram. Dirty (open or late) windows are
recomputed in memory for the answer, never written by a read."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound
from ...models import now_ms
from ...models.monitoring import Monitor, MonitorReference, MonitorWindowResult
from ...stats import tolerance
from ...stats.performance import HIGHER_IS_BETTER
from . import references
from .compute import cells_of
from .monitors import get_monitor, split_thresholds
from .recompute import WINDOW_BATCH, compute_windows, gather, refresh

MAX_WINDOWS = 2000


def _range(frm: int | None, to: int | None, now: int) -> tuple[int, int]:
    to = now + 1 if to is None else to
    frm = 0 if frm is None else frm
    if frm > to:
        raise InvalidArgument("from must not be after to", {"field": "from"})
    return frm, to


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


_LIGHT = (
    MonitorWindowResult.window_start,
    MonitorWindowResult.closed,
    MonitorWindowResult.dirty,
    MonitorWindowResult.n,
    MonitorWindowResult.sources,
    MonitorWindowResult.model_version,
    MonitorWindowResult.reference_id,
)
_NO_DRIFT = b'{"columns":{},"dataset":null,"status":"ok"}'


def _stored_rows(
    session: Session, monitor: Monitor, frm: int | None, to: int | None, what: Any, now: int
) -> tuple[list[Any], bool]:
    """``(window_start, closed, dirty, n, sources, model_version, reference_id, what)`` tuples in
    ``[from, to)``, newest ``MAX_WINDOWS`` (oldest first), without loading the merged summaries."""
    lo, hi = _range(frm, to, now)
    rows = session.execute(
        select(*_LIGHT, what)
        .where(
            MonitorWindowResult.monitor_id == monitor.id,
            MonitorWindowResult.window_start >= lo,
            MonitorWindowResult.window_start < hi,
        )
        .order_by(MonitorWindowResult.window_start.desc())
        .limit(MAX_WINDOWS + 1)
    ).all()
    return list(rows[:MAX_WINDOWS])[::-1], len(rows) > MAX_WINDOWS


def _recomputed_many(
    session: Session, monitor: Monitor, starts: list[int], now: int
) -> dict[int, dict[str, Any]]:
    """Open or dirty windows merged and computed in memory (a read never writes), the drift of a
    batch of windows at once: ``{window_start: the fields the evaluator would store}``."""
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(starts), WINDOW_BATCH):
        inputs = gather(session, monitor, [(ws, 0) for ws in starts[i : i + WINDOW_BATCH]])
        for w, fields in zip(inputs, compute_windows(monitor, inputs, now), strict=True):
            out[w.window_start] = fields
    return out


def _drift_window(head: dict[str, Any], drift_text: str | None) -> orjson.Fragment:
    """One window of the drift answer: ``head`` plus the stored drift's keys (columns, dataset,
    status), spliced from the stored JSON text without decoding it (the page reads 720 x 50 cells)."""
    raw = drift_text.encode() if drift_text else b"null"
    if raw == b"null":
        raw = _NO_DRIFT
    elif b"NaN" in raw or b"Infinity" in raw:  # stored by an older version; orjson writes null
        raw = orjson.dumps(json.loads(raw))
    return orjson.Fragment(orjson.dumps(head)[:-1] + b"," + raw.lstrip()[1:])


def _legacy_cells(session: Session, monitor: Monitor, window_start: int) -> str:
    """The cells of a window evaluated before ``cells`` was stored: derived from its drift."""
    stored = session.scalar(
        select(MonitorWindowResult.drift).where(
            MonitorWindowResult.monitor_id == monitor.id, MonitorWindowResult.window_start == window_start
        )
    )
    return orjson.dumps(cells_of(stored)).decode()


def drift(
    session: Session,
    actor: Principal,
    monitor_id: int,
    frm: int | None = None,
    to: int | None = None,
    view: str = "full",
) -> dict[str, Any]:
    """Drift per window and column. Closed, clean windows are read as stored by the evaluator;
    open or dirty ones are recomputed in memory. ``view="cells"``: each column's ``status``,
    ``psi`` and ``n`` only (``compute.cells_of``, stored at evaluation), what the page's heatmap
    and PSI trend draw; a cell's other statistics come with its histogram."""
    monitor = get_monitor(session, actor, monitor_id)
    now = now_ms()
    cells = view == "cells"
    stored = MonitorWindowResult.cells if cells else MonitorWindowResult.drift
    rows, truncated = _stored_rows(session, monitor, frm, to, cast(stored, Text), now)
    drift_t = split_thresholds(monitor.thresholds or {})[0]
    windows = []
    fresh = _recomputed_many(session, monitor, [row[0] for row in rows if row[2] or not row[1]], now)
    for ws, closed, dirty, n, sources, version, ref_id, text in rows:
        if dirty or not closed:
            f = fresh[ws]
            closed, n, sources, version, ref_id = (
                f["closed"],
                f["n"],
                f["sources"],
                f["model_version"],
                f["reference_id"],
            )
            text = orjson.dumps(f["cells"] if cells else f["drift"]).decode()
        elif cells and text is None:
            text = _legacy_cells(session, monitor, ws)
        head = {
            "window_start": ws,
            "partial": not closed,
            "n": n,
            "sources": sources,
            "model_version": version,
            "reference_id": ref_id,
        }
        windows.append(_drift_window(head, text))
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
    now = now_ms()
    rows, truncated = _stored_rows(session, monitor, frm, to, MonitorWindowResult.metric, now)
    _, decay_t, _ = split_thresholds(monitor.thresholds or {})
    windows = []
    fresh = _recomputed_many(session, monitor, [row[0] for row in rows if row[2] or not row[1]], now)
    for ws, closed, dirty, _n, _sources, version, _ref, m in rows:
        if dirty or not closed:
            f = fresh[ws]
            closed, version, m = f["closed"], f["model_version"], f["metric"]
        if m is None:
            continue
        base = m.get("baseline")
        windows.append(
            {
                "window_start": ws,
                "partial": not closed,
                "value": m.get("value"),
                "bound": m.get("bound"),
                "baseline": base,
                "tolerance": tolerance(base, decay_t) if base is not None else None,
                "n": m.get("n", 0),
                "status": m.get("status", "ok") if closed else "ok",
                "model_version": version,
            }
        )
    baseline = session.scalar(
        select(MonitorReference.baseline)
        .where(MonitorReference.monitor_id == monitor.id)
        .order_by(MonitorReference.id.desc())
        .limit(1)
    )
    return {
        "monitor_id": monitor.id,
        "metric": monitor.metric,
        # the live version's validation metric (per window too: it changes with the version)
        "baseline": baseline,
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
