"""Raw rows posted to a monitor (``POST /monitors/{id}/rows``), binned by the server on the reference in
force with ``tether.monitoring.build_summary`` and ADDED to the source ``rows@<reference_id>`` of each
window their timestamps fall in (several requests of raw rows add up); the prediction ids and values a
label join needs are kept when the monitor has a label column. Column-wise bodies take a vectorised
path."""

from __future__ import annotations

import itertools
import math
import operator
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tether.monitoring import build_summary, merge

from ..._lazy import lazy_module
from ...access import Principal
from ...errors import InvalidArgument
from ...models import now_ms
from ...models.monitoring import Monitor, MonitorPrediction, MonitorWindow
from . import references
from .references import PostingMonitor
from .windows import dialect_insert, mark_dirty, posting_target, window_ms

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_ROWS = 10_000
META_KEYS = ("timestamp", "prediction_id")


def _group_rows(monitor: Monitor | PostingMonitor, rows: Any, now: int) -> dict[int, list[dict[str, Any]]]:
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument("rows must be a non-empty list of objects", {"field": "rows"})
    if len(rows) > MAX_ROWS:
        raise InvalidArgument(f"At most {MAX_ROWS} rows per request", {"field": "rows", "max": MAX_ROWS})
    size = window_ms(monitor)
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidArgument(f"rows[{i}] must be an object", {"field": f"rows[{i}]"})
        ts = row.get("timestamp", now)
        if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= now + size:
            raise InvalidArgument(
                f"rows[{i}].timestamp must be epoch milliseconds, not in the future",
                {"field": f"rows[{i}].timestamp"},
            )
        groups[ts - ts % size].append(row)
    return groups


def _add_rows_summary(
    session: Session,
    monitor: Monitor | PostingMonitor,
    ref: references.ReferenceView,
    ws: int,
    summary: dict[str, Any],
    now: int,
) -> None:
    source = f"rows@{ref.id}"
    ins = dialect_insert(session)
    empty = {"reference_id": ref.id, "n": 0, "summary": {}, "received_at": now}
    session.execute(
        ins(MonitorWindow)
        .values(monitor_id=monitor.id, window_start=ws, source=source, **empty)
        .on_conflict_do_nothing(index_elements=["monitor_id", "window_start", "source"])
    )
    q = select(MonitorWindow).where(
        MonitorWindow.monitor_id == monitor.id,
        MonitorWindow.window_start == ws,
        MonitorWindow.source == source,
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    row = session.scalar(q.execution_options(populate_existing=True))
    assert row is not None
    merged = merge(row.summary, summary) if row.summary else summary
    row.summary, row.n, row.received_at = merged, merged["n"], now


def _prediction_values(
    monitor: Monitor | PostingMonitor, row: dict[str, Any]
) -> tuple[float | None, str | None]:
    v = row.get(monitor.prediction_column) if monitor.prediction_column else None
    if isinstance(v, bool):
        return float(v), str(int(v))
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v), repr(v)[:250]
    return None, (str(v)[:250] if v is not None else None)


def _keep_predictions(
    session: Session, monitor: Monitor | PostingMonitor, groups: dict[int, list[dict[str, Any]]], now: int
) -> int:
    records = []
    for ws, rows in groups.items():
        for row in rows:
            pid = row.get("prediction_id")
            if pid is None:
                continue
            if not isinstance(pid, str | int) or isinstance(pid, bool) or not 1 <= len(str(pid)) <= 200:
                raise InvalidArgument(
                    "prediction_id must be a string of 1-200 characters", {"field": "prediction_id"}
                )
            score, predicted = _prediction_values(monitor, row)
            records.append(
                {
                    "monitor_id": monitor.id,
                    "prediction_id": str(pid),
                    "window_start": ws,
                    "score": score,
                    "predicted": predicted,
                    "created_at": now,
                }
            )
    if records:
        stmt = dialect_insert(session)(MonitorPrediction).on_conflict_do_nothing(
            index_elements=["monitor_id", "prediction_id"]
        )
        session.execute(stmt, records)
    return len(records)


def _split_windows(
    monitor: Monitor | PostingMonitor, ts: np.ndarray, data: dict[str, np.ndarray]
) -> dict[int, tuple[int, dict[str, Any]]]:
    """``{window_start: (rows, {column: float64 array})}``: the rows grouped by their window."""
    size = window_ms(monitor)
    starts = ts - ts % size
    order = np.argsort(starts, kind="stable")
    cuts = np.flatnonzero(np.diff(starts[order])) + 1
    out = {}
    for idx in np.split(order, cuts):
        out[int(starts[idx[0]])] = (len(idx), {k: v[idx] for k, v in data.items()})
    return out


def _columnar(
    monitor: Monitor | PostingMonitor, ref: references.ReferenceView, rows: Any, now: int
) -> dict[int, tuple[int, dict[str, Any]]] | None:
    """``{window_start: (rows, {column: float64 array})}`` for the common shape, vectorised with
    numpy: every row an object with the same keys in the same order, every value a JSON number,
    every posted reference column numeric, timestamps valid, no label column. ``None`` sends the
    post down the general path (which also words any error)."""
    if monitor.label_column or not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
        return None
    first = rows[0]
    if type(first) is not dict or not first:
        return None
    k0 = first.keys()
    if not all(type(r) is dict and r.keys() == k0 for r in rows):
        return None
    keys = tuple(k0)
    get = operator.itemgetter(*keys)
    values = list(map(get, rows)) if len(keys) > 1 else [(v,) for v in map(get, rows)]
    if not set(map(type, itertools.chain.from_iterable(values))) <= {float, int}:
        return None
    ref_cols = ref.profile["columns"]
    if any(ref_cols[k].get("kind") != "numeric" for k in keys if k in ref_cols):
        return None
    size = window_ms(monitor)
    if "timestamp" in keys:
        stamps = list(map(operator.itemgetter("timestamp"), rows))
        if set(map(type, stamps)) != {int}:
            return None
        if min(stamps) < 0 or max(stamps) > now + size:
            return None
        ts = np.array(stamps, dtype=np.int64)
    else:
        ts = np.full(len(rows), now, dtype=np.int64)
    try:
        x = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond the float range: the general path counts it as inf
        return None
    return _split_windows(monitor, ts, {k: x[:, j] for j, k in enumerate(keys) if k in ref_cols})


def _check_columns(columns: Any) -> int:
    """The number of rows of a column-wise body: an object of equal-length lists (400 otherwise)."""
    if not isinstance(columns, dict) or not columns:
        raise InvalidArgument("columns must be a non-empty object of lists", {"field": "columns"})
    sizes = set()
    for k, v in columns.items():
        if not isinstance(v, list):
            raise InvalidArgument(f"columns.{k} must be a list", {"field": f"columns.{k}"})
        sizes.add(len(v))
    if len(sizes) != 1:
        raise InvalidArgument("every column must have the same number of values", {"field": "columns"})
    n = sizes.pop()
    if not 1 <= n <= MAX_ROWS:
        raise InvalidArgument(f"columns must hold 1-{MAX_ROWS} rows", {"field": "columns", "max": MAX_ROWS})
    return n


def _columns_fast(
    monitor: Monitor | PostingMonitor,
    ref: references.ReferenceView,
    columns: dict[str, list[Any]],
    n: int,
    now: int,
) -> dict[int, tuple[int, dict[str, Any]]] | None:
    """The column-wise body's vectorised path, on the same conditions as ``_columnar`` (every value
    a JSON number, posted reference columns numeric, timestamps integers in range, no label
    column); ``None`` when the body must take the general path as rows."""
    ref_cols = ref.profile["columns"]
    if monitor.label_column or any(ref_cols[k].get("kind") != "numeric" for k in columns if k in ref_cols):
        return None
    number = {float, int}
    if not all(set(map(type, v)) <= number for v in columns.values()):
        return None
    stamps = columns.get("timestamp")
    if stamps is not None:
        if set(map(type, stamps)) != {int} or min(stamps) < 0 or max(stamps) > now + window_ms(monitor):
            return None
        ts = np.array(stamps, dtype=np.int64)
    else:
        ts = np.full(n, now, dtype=np.int64)
    try:
        data = {k: np.array(v, dtype=np.float64) for k, v in columns.items() if k in ref_cols}
    except OverflowError:  # an integer beyond the float range: the general path counts it as inf
        return None
    return _split_windows(monitor, ts, data)


def _fast_summaries(
    ref: references.ReferenceView, fast: dict[int, tuple[int, dict[str, Any]]], keys: Any
) -> tuple[dict[int, int], dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    ref_cols = ref.profile["columns"]
    names = list(ref_cols)
    extra = [k for k in keys if k not in ref_cols and k not in META_KEYS]
    summaries = {}
    for ws, (count, data) in fast.items():
        s = build_summary(ref.profile, data if data else {"": np.empty(count)}, names)
        s["unexpected_columns"] = dict.fromkeys(extra, count)
        summaries[ws] = s
    return {ws: c for ws, (c, _) in fast.items()}, summaries, {}


def _body_summaries(
    monitor: Monitor | PostingMonitor, ref: references.ReferenceView, body: dict[str, Any], now: int
) -> tuple[dict[int, int], dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """``_summaries`` of a rows body: ``{"rows": [{column: value}]}`` or, column-wise,
    ``{"columns": {column: [values]}}`` (the same rows: value ``i`` of every column is row ``i``).
    A column-wise body that the vectorised path cannot take is binned as those rows."""
    if "columns" not in body:
        return _summaries(monitor, ref, body.get("rows"), now)
    if "rows" in body:
        raise InvalidArgument("Send rows or columns, not both", {"field": "columns"})
    columns = body["columns"]
    n = _check_columns(columns)
    fast = _columns_fast(monitor, ref, columns, n, now)
    if fast is not None:
        return _fast_summaries(ref, fast, columns)
    keys = list(columns)
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return _summaries(monitor, ref, rows, now)


def _summaries(
    monitor: Monitor | PostingMonitor, ref: references.ReferenceView, rows: Any, now: int
) -> tuple[dict[int, int], dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """``(rows per window, summary per window, row groups)``; the groups only on the general path
    (the prediction ids are kept from them)."""
    fast = _columnar(monitor, ref, rows, now)
    if fast is not None:
        return _fast_summaries(ref, fast, rows[0])
    names = list(ref.profile["columns"])
    groups = _group_rows(monitor, rows, now)
    summaries = {}
    for ws, group in groups.items():
        try:
            s = build_summary(ref.profile, group, names)
        except (ValueError, TypeError) as e:
            raise InvalidArgument(f"rows: {e}", {"field": "rows"}) from None
        for k in META_KEYS:
            s["unexpected_columns"].pop(k, None)
        if monitor.label_column:
            s["unexpected_columns"].pop(monitor.label_column, None)
        summaries[ws] = s
    return {ws: len(g) for ws, g in groups.items()}, summaries, groups


def post_rows(
    session: Session, actor: Principal, monitor_id: int, body: dict[str, Any], now: int | None = None
) -> dict[str, Any]:
    now = now if now is not None else now_ms()
    monitor, ref = posting_target(session, actor, monitor_id)
    counts, summaries, groups = _body_summaries(monitor, ref, body, now)
    for ws in sorted(summaries):
        _add_rows_summary(session, monitor, ref, ws, summaries[ws], now)
    kept = _keep_predictions(session, monitor, groups, now) if monitor.label_column else 0
    mark_dirty(session, monitor.id, list(summaries))
    return {
        "monitor_id": monitor.id,
        "reference_id": ref.id,
        "rows": sum(counts.values()),
        "windows": [{"window_start": ws, "rows": counts[ws]} for ws in sorted(counts)],
        "predictions_kept": kept,
    }
