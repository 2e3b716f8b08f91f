"""The hot paths of a running test: ``GET /assign`` and window posts, from a per-process cache.

A test's arms, traffic, metric types and stopped arms change only through this package, and every
such change moves ``ab_tests.updated_at`` forward (``catalog.touch``). ``ServingCache`` (one per app, held by
the ``Runtime``) keeps, per test, what the hot paths need: the assigner, the finished response
bodies of ``/assign`` (one per assigned arm) and the validation tables of window posts.

* ``assign`` answers from the entry WITHOUT a statement when this principal's READ on the test was
  verified less than ``ttl`` seconds ago (``TETHER_AUTH_CACHE_SECONDS``, the token cache's period;
  0 turns it off). Otherwise it runs ONE statement: the test's version stamp ``(updated_at,
  created_at, status, state)``, filtered by the READ permission clause (the check stays in SQL).
  When the stamp matches the cached entry, the answer is a hash of the unit and a tuple lookup of
  prebuilt bytes; when it does not (another process changed the test), the entry is rebuilt from
  the ORM row. No row means "missing or not permitted": the ordinary ``get_test`` then raises the
  right error. The verifications are dropped (``expire``) after every commit in this process that
  published an event or changed credentials (grants, groups, users, tokens, tests: all publish),
  and ``invalidate`` drops a test's entry; so a change made through this process is seen at once,
  and one made by another process (another gunicorn worker or server) within ``ttl`` seconds, the
  same bound as a revoked token.
* ``post_windows`` validates against the cached arm names and metric types (fixed at creation;
  the entry is keyed by the test's ``created_at`` so a reused id never matches) and writes with ONE
  ``INSERT ... SELECT ... WHERE EXISTS (test is running/stopped, same test, EDIT permitted) ON
  CONFLICT DO UPDATE``, built once per (dialect, number of windows, principal shape) with every
  value a bound parameter. Zero rows inserted falls back to the ordinary path, which raises the
  error.

The services here take a Session and never commit, like every other service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, bindparam, exists, select, union_all
from sqlalchemy.orm import Session

from ...access import Principal
from ...jsonutil import dumps
from ...models import now_ms
from ...models.abtests import ABOutcomeWindow, ABTest
from ..identity import permissions
from . import outcomes
from .catalog import _bad, assigner, get_test, stopped_arms

Stamp = tuple[int, int, str, str]
MAX_TESTS = 10_000


def stamp_of(test: ABTest) -> Stamp:
    return (int(test.updated_at), int(test.created_at), test.status, test.state)


@dataclass(frozen=True)
class Entry:
    stamp: Stamp
    model_id: int
    arm_body: Callable[[object], bytes]  # unit -> the finished /assign response body
    arm_index: dict[str, int]  # arm name -> index (window posts)
    types: dict[str, str]  # metric -> type (window posts)
    postable: bool  # not a draft
    aggregates: Any  # outcomes.aggregates_query of this test, built once


@dataclass(frozen=True)
class CachedResults:
    key: tuple[Stamp, tuple[outcomes.Row, ...]]  # the test's version and its data version
    body: bytes


def build_entry(test: ABTest) -> Entry:
    """What the hot paths need of ``test``; the bodies come from ``assignment_json``, the one
    output definition of ``/assign``."""
    bodies = [dumps(assignment_json(test, i)) for i in range(len(test.arms))]
    return Entry(
        stamp=stamp_of(test),
        model_id=test.model_id,
        arm_body=assigner(test).mapper(bodies),
        arm_index={a["name"]: i for i, a in enumerate(test.arms)},
        types=outcomes.metric_types(test),
        postable=test.status != "draft",
        aggregates=outcomes.aggregates_query(test.id, outcomes.metric_types(test)),
    )


def assignment_json(test: ABTest, assigned: int) -> dict[str, Any]:
    """The ``/assign`` answer for a unit assigned to arm ``assigned``: the arm to serve (control
    once the test stopped or that treatment lost), its version, the assigned arm, and whether the
    test is running."""
    running = test.status == "running"
    served = assigned if running and assigned not in stopped_arms(test) else 0
    arm = test.arms[served]
    return {"arm": arm["name"], "version": arm.get("version"), "assigned_arm": test.arms[assigned]["name"],
            "active": running}  # fmt: skip


class ServingCache:
    """Per-process entries by test id; thread-safe (entries are immutable, replaced whole).

    ``ttl``: how long a principal's permission on a test, checked by the stamp statement, is
    trusted without a statement (see the module docstring); ``clock`` is ``time.monotonic``."""

    def __init__(self, ttl: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[int, Entry] = {}
        self._results: dict[int, CachedResults] = {}
        self._verified: dict[tuple[Any, ...], float] = {}  # (test, principal shape, level) -> when
        self.statements: dict[tuple[Any, ...], Any] = {}  # stamp statements per principal shape
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()

    def get(self, test_id: int) -> Entry | None:
        return self._entries.get(test_id)

    def verified(self, test_id: int, who: tuple[Any, ...]) -> Entry | None:
        """The entry, when ``who`` (principal shape and level) was checked on it within ``ttl``."""
        if self.ttl <= 0:
            return None
        at = self._verified.get((test_id, *who))
        if at is None or self.clock() - at > self.ttl:
            return None
        return self._entries.get(test_id)

    def mark_verified(self, test_id: int, who: tuple[Any, ...]) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._verified) >= MAX_TESTS:
                self._verified.clear()
            self._verified[(test_id, *who)] = self.clock()

    def expire(self) -> None:
        """Forget every verification: the next request of each runs the stamp statement again."""
        with self._lock:
            self._verified.clear()

    def put(self, test_id: int, entry: Entry) -> Entry:
        with self._lock:
            if len(self._entries) >= MAX_TESTS and test_id not in self._entries:
                self._entries.clear()
            self._entries[test_id] = entry
        return entry

    def results(self, test_id: int) -> CachedResults | None:
        return self._results.get(test_id)

    def put_results(self, test_id: int, cached: CachedResults) -> None:
        with self._lock:
            if len(self._results) >= MAX_TESTS and test_id not in self._results:
                self._results.clear()
            self._results[test_id] = cached

    def invalidate(self, test_id: int) -> None:
        self._entries.pop(test_id, None)
        self._results.pop(test_id, None)

    def clear(self) -> None:
        self._entries.clear()
        self._results.clear()
        self.expire()


def _who(actor: Principal, level: str) -> tuple[Any, ...]:
    return (actor.id, actor.role, actor.is_admin, actor.default_level, level)


def _stamp_query(cache: ServingCache, actor: Principal, level: str) -> Any:
    """The stamp statement for this principal's shape (the test id is a bound parameter). Built once:
    the permission clause depends only on the principal's id, role and default level; group
    memberships and grants are read by the statement itself when it runs."""
    key = _who(actor, level)
    stmt = cache.statements.get(key)
    if stmt is None:
        stmt = select(ABTest.updated_at, ABTest.created_at, ABTest.status, ABTest.state).where(
            ABTest.id == bindparam("test_id", type_=Integer),
            permissions.filter_clause(actor, "model", ABTest.model_id, level),
        )
        if len(cache.statements) >= MAX_TESTS:
            cache.statements.clear()
        cache.statements[key] = stmt
    return stmt


def _fresh(session: Session, cache: ServingCache, actor: Principal, test_id: int, level: str) -> Entry:
    """The test's entry, checked against its stamp in one permission-filtered statement (Core,
    on the session's connection: no ORM layer for a four-column row)."""
    row = session.connection().execute(_stamp_query(cache, actor, level), {"test_id": test_id}).first()
    entry = cache.get(test_id)
    if row is not None and entry is not None and entry.stamp == tuple(row):
        cache.mark_verified(test_id, _who(actor, level))
        return entry
    test = get_test(session, actor, test_id, level)  # raises NotFound / PermissionDenied
    entry = cache.put(test_id, build_entry(test))
    cache.mark_verified(test_id, _who(actor, level))
    return entry


def assign(
    session: Callable[[], Session], cache: ServingCache, actor: Principal, test_id: int, unit: Any
) -> bytes:
    """The JSON body of ``GET /ab-tests/{id}/assign?unit=`` (see ``assignment_json``). ``session``
    is called only when the cache cannot answer (no statement, not even a session, otherwise)."""
    if not isinstance(unit, str) or not 1 <= len(unit) <= 250:
        raise _bad("unit must be 1-250 characters", "unit")
    entry = cache.verified(test_id, _who(actor, "READ"))
    if entry is None:
        entry = _fresh(session(), cache, actor, test_id, "READ")
    return entry.arm_body(unit)


def results(session: Session, cache: ServingCache, actor: Principal, test_id: int) -> bytes | None:
    """The JSON body of ``GET /ab-tests/{id}/results``, or ``None`` when this look reaches a new
    decision (the caller then runs ``decide.evaluate`` in a write unit of work).

    Two statements: the permission-filtered stamp and ``outcomes.read_aggregates`` (every sum the
    results need). The answer is a function of (test version, aggregates), so an unchanged pair
    answers from the cache; otherwise ``decide.compute`` runs on the rows already read."""
    from .decide import compute  # decide imports catalog, which this module's importers load first

    entry = _fresh(session, cache, actor, test_id, "READ")
    rows = outcomes.read_aggregates(session, test_id, entry.types, entry.aggregates)
    key = (entry.stamp, rows)
    hit = cache.results(test_id)
    if hit is not None and hit.key == key:
        return hit.body
    test = get_test(session, actor, test_id)
    look = compute(session, test, rows)
    if look.pending:
        return None
    body = dumps(look.results)
    if stamp_of(test) == entry.stamp:  # PostgreSQL autocommit reads may straddle a change
        cache.put_results(test_id, CachedResults(key, body))
    return body


# ---------------------------------------------------------------- window posts in one statement

_COLUMNS = (
    "test_id",
    "arm",
    "metric",
    "window_start",
    "source",
    "n",
    "sum",
    "sum_sq",
    "events",
    "updated_at",
)
_TYPES = {"test_id": Integer, "arm": Integer, "metric": String, "window_start": BigInteger, "source": String,
          "n": BigInteger, "sum": Float, "sum_sq": Float, "events": BigInteger, "updated_at": BigInteger}  # fmt: skip


def post_windows(
    session: Session, cache: ServingCache, actor: Principal, test_id: int, windows: Any
) -> int | None:
    """Write ``windows`` in one statement when the cached entry can validate them; ``None`` when
    the caller must take the ordinary path (no entry yet, or the guarded insert wrote nothing:
    missing test, no EDIT, a draft, or a different test under this id)."""
    entry = cache.get(test_id)
    if entry is None or not entry.postable:
        return None
    if not isinstance(windows, list) or len(windows) > outcomes.MAX_WINDOWS:
        raise _bad(f"windows must be a list of at most {outcomes.MAX_WINDOWS}", "windows")
    if not windows:
        return None
    rows = [outcomes.window_row(w, i, entry.arm_index, entry.types) for i, w in enumerate(windows)]
    params: dict[str, Any] = {"g_test_id": test_id, "g_created": entry.stamp[1]}
    now = now_ms()
    for i, r in enumerate(rows):
        for c, v in zip(_COLUMNS, (test_id, *_values(r), now), strict=True):
            params[f"{c}_{i}"] = v
    stmt = _post_statement(session, cache, actor, len(rows))
    # RETURNING counts the rows written (inserted or replaced); rowcount is -1 here on psycopg
    written = len(session.connection().execute(stmt, params).all())
    return len(rows) if written else None


def _post_statement(session: Session, cache: ServingCache, actor: Principal, n: int) -> Any:
    """The guarded upsert of ``n`` windows, every value a bound parameter (``<column>_<i>``, the
    guard's ``g_test_id`` and ``g_created``): built once per (dialect, n, principal shape), so a
    post neither builds nor compiles SQL (the compiled form is in SQLAlchemy's cache)."""
    dialect = session.get_bind().dialect.name
    key = ("post", dialect, n, *_who(actor, "EDIT"))
    stmt = cache.statements.get(key)
    if stmt is not None:
        return stmt
    guard = exists().where(
        ABTest.id == bindparam("g_test_id", type_=Integer),
        ABTest.created_at == bindparam("g_created", type_=BigInteger),
        ABTest.status != "draft",
        permissions.filter_clause(actor, "model", ABTest.model_id, "EDIT"),
    )
    selects: list[Any] = [
        select(*[bindparam(f"{c}_{i}", type_=_TYPES[c]).label(c) for c in _COLUMNS]) for i in range(n)
    ]
    source: Any = selects[0] if n == 1 else union_all(*selects)
    rows = source.subquery("v")
    # the guard once for all rows (PostgreSQL plans it once: the plan was most of a post's cost)
    ins = outcomes.insert_for(session, ABOutcomeWindow).from_select(
        list(_COLUMNS), select(*rows.c).where(guard)
    )
    stmt = ins.on_conflict_do_update(
        index_elements=["test_id", "arm", "metric", "window_start", "source"],
        set_={k: ins.excluded[k] for k in ("n", "sum", "sum_sq", "events", "updated_at")},
    ).returning(ABOutcomeWindow.id)
    # PostgreSQL: a prepared statement of each connection (planning was most of the database's work)
    stmt = stmt.execution_options(tether_prepare=True)
    with cache._lock:
        if len(cache.statements) >= MAX_TESTS:
            cache.statements.clear()
        cache.statements[key] = stmt
    return stmt


def _values(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["arm"], r["metric"], r["window_start"], r["source"], r["n"], r["sum"], r["sum_sq"], r["events"])
