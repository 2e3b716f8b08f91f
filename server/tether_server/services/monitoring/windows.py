"""Ingest (window summaries, raw rows, labels) and the per-window merged results.

Windows are ``[k·L, (k+1)·L)`` in epoch milliseconds (UTC), identified by ``window_start``.
A summary post for (monitor, window, source) replaces that source's summary; sources add up.
Raw rows are binned here with ``tether.monitoring.build_summary`` and ADDED to the source
``rows@<reference_id>`` (several requests of raw rows add up). Every ingest marks the window's
result dirty; merging and drift are computed on read (open windows) or by the evaluator.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tether.monitoring import (
    binary_summary,
    build_summary,
    merge,
    multiclass_summary,
    regression_summary,
    validate_performance,
    validate_summary,
)

from ..._lazy import lazy_module
from ...access import Principal
from ...db import DriverStatement
from ...errors import FailedPrecondition, InvalidArgument, NotFound
from ...models import now_ms
from ...models.monitoring import (
    Monitor,
    MonitorPerformance,
    MonitorPrediction,
    MonitorWindow,
    MonitorWindowResult,
)
from ..identity import permissions
from . import references, summary_check
from .references import PostingMonitor

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_ROWS = 10_000
MAX_LABELS = 10_000
META_KEYS = ("timestamp", "prediction_id")
JOINED_SOURCE = "_joined"
SCOPE = "monitoring"


def _insert(session: Session) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


_PRECHECKED = "window_summary_prechecked"


def _posting_row(
    session: Session, actor: Principal, monitor_id: int
) -> tuple[PostingMonitor, int | None, int | None]:
    """``(monitor's posting columns, live version id, newest reference id)`` in one query, after
    the permission check: EDIT on the model, or a ``monitoring``-scoped token with READ. Kept for
    the rest of the request in ``session.info`` (the view's stale-reference check asks first)."""
    key = ("monitor_posting", monitor_id, actor.id)
    if key in session.info:
        return session.info[key]  # type: ignore[no-any-return]
    params: dict[str, Any] = {"mid": monitor_id}
    if not actor.is_admin:
        params["uid"] = actor.id
    stmt = references.posting_statement(not actor.is_admin)
    row = session.connection().execute(stmt, params).first()  # Core: plain values, no ORM object
    if row is None:
        raise NotFound(f"Monitor {monitor_id} not found")
    width = len(PostingMonitor._fields)
    monitor = PostingMonitor(*row[:width])
    live_stage, live_alias, newest = row[width], row[width + 1], row[width + 2]
    have = permissions.effective_level(actor, None if actor.is_admin else row[width + 3])
    what = f"Monitor {monitor_id}"
    permissions.check_level(have, "READ", "model", what)
    if SCOPE not in getattr(actor, "scopes", ()):
        permissions.check_level(have, "EDIT", "model", what)
    out = (monitor, live_alias if monitor.alias else live_stage, newest)
    session.info[key] = out
    return out


def _full_monitor(session: Session, monitor_id: int) -> Monitor:
    monitor = session.get(Monitor, monitor_id)
    if monitor is None:  # deleted since the posting query (PostgreSQL, another transaction)
        raise NotFound(f"Monitor {monitor_id} not found")
    return monitor


def monitor_for_posting(session: Session, actor: Principal, monitor_id: int) -> Monitor:
    """Posting data needs EDIT on the model, or a ``monitoring``-scoped token with READ."""
    return _full_monitor(session, _posting_row(session, actor, monitor_id)[0].id)


def _cached_in_force(
    session: Session, actor: Principal, monitor_id: int
) -> tuple[PostingMonitor, references.ReferenceView | None]:
    monitor, live, newest = _posting_row(session, actor, monitor_id)
    if newest is not None:
        view = references.cache_of(session).get(session, newest)
        if view is not None and references.in_force(monitor, view, live):
            return monitor, view
    return monitor, None


def reference_in_force(session: Session, actor: Principal, monitor_id: int) -> bool:
    """Whether the newest reference row still describes the live version (no row to add)."""
    return _cached_in_force(session, actor, monitor_id)[1] is not None


def posting_target(
    session: Session, actor: Principal, monitor_id: int
) -> tuple[PostingMonitor, references.ReferenceView]:
    """The monitor and the reference in force, checked for posting. One query when the cached
    reference is still in force; otherwise ``current_reference`` (which may add a row)."""
    monitor, view = _cached_in_force(session, actor, monitor_id)
    if view is not None:
        return monitor, view
    ref = references.current_reference(session, _full_monitor(session, monitor.id))
    return monitor, references.ReferenceView.of(ref)


def precheck_summary(session: Session, body: Any) -> None:
    """Check a window post's summary before the request's first statement (on SQLite the first
    statement takes the write lock, which is then held to the COMMIT), against the cached
    reference the body names. Never raises: a post it cannot vouch for (a reference not cached,
    a summary the fast check does not accept) is checked in ``post_window`` as before, after the
    stale-reference check, so every answer stays what it was. References never change, so the
    result stands when ``post_window`` finds that reference in force."""
    if type(body) is not dict:
        return
    ref_id, summary = body.get("reference_id"), body.get("summary")
    if type(ref_id) is not int:
        return
    view = references.cache_of(session).peek(ref_id)
    if view is not None and summary_check.accepts(view.layout, summary):
        session.info[_PRECHECKED] = (ref_id, summary, orjson.dumps(summary).decode(), view)


def window_ms(monitor: Monitor | PostingMonitor) -> int:
    return monitor.window_seconds * 1000


def check_window_start(monitor: Monitor | PostingMonitor, window_start: Any, now: int) -> int:
    size = window_ms(monitor)
    if isinstance(window_start, bool) or not isinstance(window_start, int) or window_start < 0:
        raise InvalidArgument("window_start must be epoch milliseconds", {"field": "window_start"})
    if window_start % size:
        raise InvalidArgument(
            f"window_start must be aligned to the window length ({monitor.window_seconds} s) in UTC",
            {"field": "window_start", "aligned": window_start - window_start % size},
        )
    if window_start > now + size:
        raise InvalidArgument("window_start is in the future", {"field": "window_start"})
    return window_start


def _check_source(source: Any) -> str:
    if not isinstance(source, str) or not 1 <= len(source) <= 200 or source.startswith("_"):
        raise InvalidArgument("source must be 1-200 characters, not starting with '_'", {"field": "source"})
    return source


@functools.cache
def _dirty_statement(dialect: str) -> Any:
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = ins(MonitorWindowResult).values(
        monitor_id=bindparam("monitor_id"),
        window_start=bindparam("ws"),
        n=0,
        sources=0,
        status="ok",
        closed=False,
        dirty=True,
        alerts_done=False,
        updated_at=bindparam("now"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["monitor_id", "window_start"],
        set_={"dirty": True, "alerts_done": False, "updated_at": stmt.excluded.updated_at},
    )


def mark_dirty(session: Session, monitor_id: int, window_starts: list[int]) -> None:
    """Mark the windows' results for recomputation: one statement (built once, executemany)."""
    now = now_ms()
    params = [{"monitor_id": monitor_id, "ws": ws, "now": now} for ws in sorted(set(window_starts))]
    if params:
        session.execute(_dirty_statement(session.get_bind().dialect.name), params)


def _stale(monitor: PostingMonitor, ref: references.ReferenceView, given: Any) -> None:
    if given != ref.id:
        raise FailedPrecondition(
            "The reference changed (the live version changed); fetch it again and re-bin",
            {"reference": references.reference_json(monitor, ref), "given_reference_id": given},
        )


# One statement per summary post on PostgreSQL (a data-modifying CTE writes the window and marks its
# result dirty); SQLite, in-process, runs the two parts as two statements. The summary is bound as
# its JSON text (orjson, compact), not re-encoded by the JSON column type.
_UPSERT_WINDOW = (
    "INSERT INTO monitor_windows (monitor_id, window_start, source, reference_id, n, summary, received_at) "
    "VALUES (:mid, :ws, :source, :ref, :n, {summary}, :now) "
    "ON CONFLICT (monitor_id, window_start, source) DO UPDATE SET reference_id = excluded.reference_id, "
    "n = excluded.n, summary = excluded.summary, received_at = excluded.received_at"
)
_MARK_DIRTY = (
    "INSERT INTO monitor_window_results "
    "(monitor_id, window_start, n, sources, status, closed, dirty, alerts_done, updated_at) "
    "VALUES (:mid, :ws, 0, 0, 'ok', {false}, {true}, {false}, :now) "
    "ON CONFLICT (monitor_id, window_start) DO UPDATE SET dirty = {true}, alerts_done = {false}, "
    "updated_at = excluded.updated_at"
)


@functools.cache
def _post_statements(dialect: str) -> tuple[Any, ...]:
    if dialect == "postgresql":
        upsert = _UPSERT_WINDOW.format(summary="CAST(:summary AS JSON)")
        mark = _MARK_DIRTY.format(false="false", true="true")
        return (text(f"WITH w AS ({upsert} RETURNING 1) {mark}").execution_options(tether_prepare=True),)
    return (text(_UPSERT_WINDOW.format(summary=":summary")), text(_MARK_DIRTY.format(false="0", true="1")))


def _checked_summary(
    session: Session, ref: references.ReferenceView, summary: Any
) -> tuple[dict[str, Any], str]:
    """The summary and its JSON text: the vectorised check accepts the usual post (usually already
    in ``precheck_summary``); anything else goes through ``validate_summary``, which words the
    error (or accepts what the fast check leaves to it, e.g. counts beyond 2**40, encoded like the
    JSON column type does)."""
    pre = session.info.pop(_PRECHECKED, None)
    if pre is not None and pre[0] == ref.id and pre[1] is summary:
        return summary, pre[2]
    if summary_check.accepts(ref.layout, summary):
        return summary, orjson.dumps(summary).decode()
    try:
        checked = validate_summary(ref.profile, summary)
    except (ValueError, OverflowError) as e:
        raise InvalidArgument(f"summary: {e}", {"field": "summary"}) from None
    return checked, json.dumps(checked, separators=(",", ":"))


@functools.cache
def _guarded_statement(dialect: str, level: str | None) -> Any:
    """A window post written only when every check of ``post_window`` passes, the checks folded
    into the statement: the monitor exists, the caller holds ``level`` on its model (``None``:
    an admin), ``:ws`` is aligned and not in the future, the newest reference is ``:ref`` and
    still in force (the live version is ``:mv``; the monitor names no dataset or ``:named``).
    PostgreSQL: one data-modifying statement that also marks the result dirty and returns a row
    when it wrote; SQLite: the window upsert alone (its rowcount says whether it wrote)."""
    live_stage, live_alias, newest = references.live_and_newest()
    live = case((func.coalesce(Monitor.alias, "") != "", live_alias), else_=live_stage)
    size = cast(Monitor.window_seconds, BigInteger) * 1000
    ws = cast(bindparam("ws", type_=BigInteger), BigInteger)
    guards = [
        Monitor.id == bindparam("mid", type_=Integer),
        size > 0,
        ws % size == 0,
        ws <= cast(bindparam("now", type_=BigInteger), BigInteger) + size,
        newest == bindparam("ref", type_=Integer),
        live == bindparam("mv", type_=Integer),
        or_(
            Monitor.reference_dataset_version_id.is_(None),
            Monitor.reference_dataset_version_id == bindparam("named", type_=Integer),
        ),
    ]
    if level is not None:
        guards.append(permissions.bound_level_at_least("model", Monitor.model_id, level))
    summary: Any = bindparam("summary", type_=String)
    if dialect == "postgresql":
        from sqlalchemy import JSON

        summary = cast(summary, JSON)
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = select(
        Monitor.id,
        ws,
        bindparam("source", type_=String),
        bindparam("ref", type_=Integer),
        bindparam("n", type_=BigInteger),
        summary,
        bindparam("now", type_=BigInteger),
    ).where(*guards)
    window = ins(MonitorWindow).from_select(
        ["monitor_id", "window_start", "source", "reference_id", "n", "summary", "received_at"], values
    )
    window = window.on_conflict_do_update(
        index_elements=["monitor_id", "window_start", "source"],
        set_={k: window.excluded[k] for k in ("reference_id", "n", "summary", "received_at")},
    )
    if dialect != "postgresql":
        return DriverStatement(window)
    w = window.returning(MonitorWindow.monitor_id, MonitorWindow.window_start).cte("w")
    dirty = ins(MonitorWindowResult).from_select(
        [
            "monitor_id",
            "window_start",
            "n",
            "sources",
            "status",
            "closed",
            "dirty",
            "alerts_done",
            "updated_at",
        ],
        select(
            w.c.monitor_id,
            w.c.window_start,
            literal(0),
            literal(0),
            literal("ok"),
            false(),
            true(),
            false(),
            cast(bindparam("now", type_=BigInteger), BigInteger),
        ),  # fmt: skip
    )
    dirty = dirty.on_conflict_do_update(
        index_elements=["monitor_id", "window_start"],
        set_={"dirty": True, "alerts_done": False, "updated_at": dirty.excluded.updated_at},
    )
    statement = dirty.returning(MonitorWindowResult.window_start).add_cte(w)
    return DriverStatement(statement.execution_options(tether_prepare=True))


def post_window_guarded(
    session: Session, actor: Principal, monitor_id: int, body: Any, now: int | None = None
) -> dict[str, Any] | None:
    """``post_window``'s answer from one guarded write (two statements on SQLite) when
    ``precheck_summary`` vouched for the summary and the body's other fields have the valid
    types; ``None`` (nothing written) when the caller must take ``post_window``, which then
    answers exactly as before (a missing monitor, no permission, a stale reference, a bad
    window_start or source)."""
    pre = session.info.get(_PRECHECKED)
    if pre is None or type(body) is not dict or body.get("summary") is not pre[1]:
        return None
    ref_id, summary, encoded, view = pre
    ws, source = body.get("window_start"), body.get("source")
    if type(ws) is not int or ws < 0 or type(source) is not str or view.model_version_id is None:
        return None
    try:
        _check_source(source)
    except InvalidArgument:
        return None
    level = None
    if not actor.is_admin:
        level = "READ" if SCOPE in getattr(actor, "scopes", ()) else "EDIT"
        if not permissions.role_allows(actor, level):
            return None
    now = now if now is not None else now_ms()
    ids = view.dataset_version_ids
    params: dict[str, Any] = {"mid": monitor_id, "ws": ws, "source": source, "ref": ref_id,
                              "n": summary["n"], "summary": encoded, "now": now,
                              "mv": view.model_version_id, "named": ids[0] if len(ids) == 1 else None}  # fmt: skip
    if level is not None:
        params["uid"], params["default_level"] = actor.id, actor.default_level
    dialect = session.get_bind().dialect.name
    conn = session.connection()
    result = _guarded_statement(dialect, level).execute(conn, params)
    if dialect == "postgresql":
        if not result.all():
            return None
    else:
        if result.rowcount != 1:
            return None
        conn.execute(_post_statements(dialect)[1], {"mid": monitor_id, "ws": ws, "now": now})
    session.info.pop(_PRECHECKED, None)
    return {"monitor_id": monitor_id, "window_start": ws, "source": source, "n": summary["n"],
            "reference_id": ref_id}  # fmt: skip


def post_window(
    session: Session, actor: Principal, monitor_id: int, body: dict[str, Any], now: int | None = None
) -> dict[str, Any]:
    now = now if now is not None else now_ms()
    monitor, ref = posting_target(session, actor, monitor_id)
    _stale(monitor, ref, body.get("reference_id"))
    ws = check_window_start(monitor, body.get("window_start"), now)
    source = _check_source(body.get("source"))
    summary, encoded = _checked_summary(session, ref, body.get("summary"))
    params = {"mid": monitor.id, "ws": ws, "source": source, "ref": ref.id, "n": summary["n"],
              "summary": encoded, "now": now}  # fmt: skip
    conn = session.connection()
    for stmt in _post_statements(session.get_bind().dialect.name):
        conn.execute(stmt, params)
    return {
        "monitor_id": monitor.id,
        "window_start": ws,
        "source": source,
        "n": summary["n"],
        "reference_id": ref.id,
    }


# ---------------------------------------------------------------- raw rows


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
    ins = _insert(session)
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
        stmt = _insert(session)(MonitorPrediction).on_conflict_do_nothing(
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


# ---------------------------------------------------------------- labels


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
    stmt = _insert(session)(MonitorPerformance).values(
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
    source = _check_source(body.get("source"))
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
