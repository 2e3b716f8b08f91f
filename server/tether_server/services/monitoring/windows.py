"""Window summary posts, and what every ingest path shares: the posting check (monitor, permission,
reference in force), window alignment, the dirty mark of a window's result. Raw rows are in
``rows``, labels in ``labels``.

Windows are ``[k·L, (k+1)·L)`` in epoch milliseconds (UTC), identified by ``window_start``.
A summary post for (monitor, window, source) replaces that source's summary; sources add up.
Raw rows (``rows``) are binned on the server and ADDED to the source ``rows@<reference_id>``.
Every ingest marks the window's
result dirty; merging and drift are computed on read (open windows) or by the evaluator.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from sqlalchemy import (
    JSON,
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
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tether.monitoring import validate_summary

from ..._lazy import lazy_module
from ...access import Principal
from ...db import Database, DriverStatement, compact_json
from ...errors import FailedPrecondition, InvalidArgument, NotFound
from ...models import now_ms
from ...models.monitoring import Monitor, MonitorWindow, MonitorWindowResult
from ..identity import permissions
from . import references, summary_check
from .references import PostingMonitor

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

SCOPE = "monitoring"


def insert_for(dialect: str) -> Any:
    """The dialect's ``insert`` (``on_conflict_do_update``/``do_nothing``): PostgreSQL's or SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(session: Session) -> Any:
    return insert_for(session.get_bind().dialect.name)


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


class Prechecked(NamedTuple):
    """A summary ``precheck_summary`` vouched for: the reference it names, the summary itself, its
    JSON text as stored, and the cached reference."""

    ref_id: int
    summary: Any
    encoded: str
    view: references.ReferenceView


def precheck_summary(database: Database, body: Any) -> Prechecked | None:
    """Check a window post's summary before any statement (on SQLite the first statement of a
    write takes the write lock, which is then held to the COMMIT), against the cached reference
    the body names. Never raises: ``None`` for a post it cannot vouch for (a reference not cached,
    a summary the fast check does not accept), which ``post_window`` then checks as before, after
    the stale-reference check, so every answer stays what it was. References never change, so
    the result stands when ``post_window`` finds that reference in force."""
    if type(body) is not dict:
        return None
    ref_id, summary = body.get("reference_id"), body.get("summary")
    if type(ref_id) is not int:
        return None
    view = references.cache_of(database).peek(ref_id)
    if view is None or not summary_check.accepts(view.layout, summary):
        return None
    return Prechecked(ref_id, summary, orjson.dumps(summary).decode(), view)


def keep_precheck(session: Session, pre: Prechecked | None) -> None:
    """Hand a precheck to ``post_window`` on ``session`` (it then skips checking that summary again)."""
    if pre is not None:
        session.info[_PRECHECKED] = pre


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


def check_source(source: Any) -> str:
    if not isinstance(source, str) or not 1 <= len(source) <= 200 or source.startswith("_"):
        raise InvalidArgument("source must be 1-200 characters, not starting with '_'", {"field": "source"})
    return source


@functools.cache
def _dirty_statement(dialect: str) -> Any:
    stmt = insert_for(dialect)(MonitorWindowResult).values(
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


@functools.cache
def _dirty_one(dialect: str) -> DriverStatement:
    """``_dirty_statement`` for one window, run through ``DriverStatement`` (a window post on SQLite)."""
    return DriverStatement(_dirty_statement(dialect))


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


def _checked_summary(
    session: Session, ref: references.ReferenceView, summary: Any
) -> tuple[dict[str, Any], str]:
    """The summary and its JSON text: the fast check accepts the usual post (usually already
    in ``precheck_summary``); anything else goes through ``validate_summary``, which words the
    error (or accepts what the fast check leaves to it, e.g. counts beyond 2**40, encoded as the
    JSON column type encodes, ``db.compact_json``)."""
    pre = session.info.pop(_PRECHECKED, None)
    if pre is not None and pre.ref_id == ref.id and pre.summary is summary:
        return summary, pre.encoded
    if summary_check.accepts(ref.layout, summary):
        return summary, orjson.dumps(summary).decode()
    try:
        checked = validate_summary(ref.profile, summary)
    except (ValueError, OverflowError) as e:
        raise InvalidArgument(f"summary: {e}", {"field": "summary"}) from None
    return checked, compact_json(checked)


@functools.cache
def _write_statement(dialect: str, guarded: bool, level: str | None = None) -> DriverStatement:
    """The write of a window post: the source's summary upserted (``:mid``, ``:ws``, ``:source``,
    ``:ref``, ``:n``, ``:summary`` as its JSON text, ``:now``) and, on PostgreSQL, the window's
    result marked dirty in the same statement (a data-modifying CTE that returns a row when it
    wrote); SQLite runs ``_dirty_statement`` after it.

    ``guarded``: written only when every check of ``post_window`` passes, the checks folded into
    the statement: the monitor exists, the caller holds ``level`` on its model (``None``: an
    admin), ``:ws`` is aligned and not in the future, the newest reference is ``:ref`` and still in
    force (the live version is ``:mv``; the monitor names no dataset or ``:named``). Unguarded: the
    checked path's write, after those checks ran in Python."""
    ws = cast(bindparam("ws", type_=BigInteger), BigInteger)
    now = cast(bindparam("now", type_=BigInteger), BigInteger)
    summary: Any = bindparam("summary", type_=String)
    if dialect == "postgresql":
        summary = cast(summary, JSON)
    fields = (ws, bindparam("source", type_=String), bindparam("ref", type_=Integer),
              bindparam("n", type_=BigInteger), summary, now)  # fmt: skip
    if guarded:
        live_stage, live_alias, newest = references.live_and_newest()
        live = case((func.coalesce(Monitor.alias, "") != "", live_alias), else_=live_stage)
        size = cast(Monitor.window_seconds, BigInteger) * 1000
        guards = [
            Monitor.id == bindparam("mid", type_=Integer),
            size > 0,
            ws % size == 0,
            ws <= now + size,
            newest == bindparam("ref", type_=Integer),
            live == bindparam("mv", type_=Integer),
            or_(
                Monitor.reference_dataset_version_id.is_(None),
                Monitor.reference_dataset_version_id == bindparam("named", type_=Integer),
            ),
        ]
        if level is not None:
            guards.append(permissions.bound_level_at_least("model", Monitor.model_id, level))
        values = select(Monitor.id, *fields).where(*guards)
    else:
        values = select(bindparam("mid", type_=Integer), *fields)
    ins = insert_for(dialect)
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
        ["monitor_id", "window_start", "n", "sources", "status", "closed", "dirty", "alerts_done", "updated_at"],
        select(w.c.monitor_id, w.c.window_start, literal(0), literal(0), literal("ok"), false(), true(), false(),
               now),
    )  # fmt: skip
    dirty = dirty.on_conflict_do_update(
        index_elements=["monitor_id", "window_start"],
        set_={"dirty": True, "alerts_done": False, "updated_at": dirty.excluded.updated_at},
    )
    statement = dirty.returning(MonitorWindowResult.window_start).add_cte(w)
    return DriverStatement(statement.execution_options(tether_prepare=True))


def _write(conn: Connection, guarded: bool, level: str | None, params: dict[str, Any]) -> bool:
    """Run the post's write (``_write_statement``) on ``conn``; whether it wrote the window."""
    dialect = conn.dialect.name
    result = _write_statement(dialect, guarded, level).execute(conn, params)
    if dialect == "postgresql":
        return bool(result.all())
    if result.rowcount != 1:
        return False
    _dirty_one(dialect).execute(conn, {"monitor_id": params["mid"], "ws": params["ws"], "now": params["now"]})
    return True


def post_window_guarded(
    unit: Connection,
    pre: Prechecked,
    actor: Principal,
    monitor_id: int,
    body: Any,
    now: int | None = None,
) -> dict[str, Any] | None:
    """``post_window``'s answer from one guarded write on ``unit`` (``context.statement()``; two
    statements on SQLite) for a body whose summary ``precheck_summary`` vouched for (``pre``),
    when its other fields have the valid types; ``None`` (nothing written) when the caller must
    take ``post_window``, which then answers exactly as before (a missing monitor, no
    permission, a stale reference, a bad window_start or source)."""
    if type(body) is not dict or body.get("summary") is not pre.summary:
        return None
    ref_id, summary, encoded, view = pre
    ws, source = body.get("window_start"), body.get("source")
    if type(ws) is not int or ws < 0 or type(source) is not str or view.model_version_id is None:
        return None
    try:
        check_source(source)
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
    if not _write(unit, True, level, params):
        return None
    return {"monitor_id": monitor_id, "window_start": ws, "source": source, "n": summary["n"],
            "reference_id": ref_id}  # fmt: skip


def post_window(
    session: Session, actor: Principal, monitor_id: int, body: dict[str, Any], now: int | None = None
) -> dict[str, Any]:
    now = now if now is not None else now_ms()
    monitor, ref = posting_target(session, actor, monitor_id)
    _stale(monitor, ref, body.get("reference_id"))
    ws = check_window_start(monitor, body.get("window_start"), now)
    source = check_source(body.get("source"))
    summary, encoded = _checked_summary(session, ref, body.get("summary"))
    params = {"mid": monitor.id, "ws": ws, "source": source, "ref": ref.id, "n": summary["n"],
              "summary": encoded, "now": now}  # fmt: skip
    _write(session.connection(), False, None, params)
    return {
        "monitor_id": monitor.id,
        "window_start": ws,
        "source": source,
        "n": summary["n"],
        "reference_id": ref.id,
    }
