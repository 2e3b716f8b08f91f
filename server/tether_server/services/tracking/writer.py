"""The one way tracking data is written: ``MetricWriter``.

Every metric write (a batch, a run's initial metrics, the single ``log_metric`` route), and the
params and tags that travel with them, goes through the writer of the session's database, chosen
once when the ``Database`` is built (``for_dialect``; ``of(session)`` finds it again). The rules
live here and nowhere else:

- **A run accepts data** while it is RUNNING, not deleted, and its experiment is not deleted:
  ``ACCEPTS_DATA``. ``refusal()`` turns it into the error a caller sees; ``accepting_run()`` is
  the same rule as one SQLAlchemy query, with the caller's EDIT grant (``permissions``) joined in.
- **The latest value** of a key moves only forward (higher step, or the same step and a timestamp
  at least as new): ``newest_per_key()`` within a batch, ``LATEST_UPSERT`` against the table.

The writes check for themselves and write nothing when refused; only then does the caller ask
``runs.writable_run`` (or ``experiments.check_writable``) why, for the error:

- ``write_batch`` (params, tags, points to an existing run, in the caller's write transaction),
- ``write_checked`` (the single-point route),
- ``write_new_run`` (a run with its first params, tags and points; the run's INSERT carries the check).

On PostgreSQL each is ONE statement: the check (or the run's INSERT ... RETURNING id) is the CTE
``r`` the rows come from, so a refused run writes nothing, and the check locks the run row
FOR KEY SHARE (a purge waits for writers: ``runs.hard_delete_run``). ``write_checked`` and
``write_new_run`` are then atomic on their own: ``write_checked`` runs on ``context.statement()``
(autocommit) and ``write_new_run`` in the autocommit session (``autocommit_points``); one round
trip per request. On SQLite the check opens the caller's write
transaction (BEGIN IMMEDIATE: writers are serialised from their first statement, so the run cannot
change before the write). SQLAlchemy statements used inside raw SQL are rendered once per dialect
(``rendered``). ``write(session, run_id, rows)`` writes points unchecked, for a caller that checked.

All write through the DBAPI cursor of the caller's connection (the session's, or the unit's own): building
thousands of parameter dicts through SQLAlchemy was most of a batch's cost.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Insert, Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

from ...access import Principal
from ...errors import FailedPrecondition
from ...models import Experiment, Run
from .. import rawsql
from ..identity import permissions
from . import experiments

MetricRow = tuple[str, int, int, float, bool]  # key, step, timestamp, value (0 for NaN), is_nan


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Requirement:
    """One condition of "the run accepts data": ``column`` must equal ``value``."""

    column: ColumnElement[Any]
    value: str
    message: str  # formatted with run_id and got
    detail: str | None = None  # the details key that carries the current value


ACCEPTS_DATA: tuple[Requirement, ...] = (
    Requirement(Run.lifecycle, "active", "Run {run_id!r} is deleted", "lifecycle"),  # type: ignore[arg-type]
    Requirement(
        Run.status,  # type: ignore[arg-type]
        "RUNNING",
        "Run {run_id!r} is {got}; only RUNNING runs accept new data",
        "status",
    ),
    Requirement(Experiment.lifecycle, "active", "The experiment of run {run_id!r} is deleted"),  # type: ignore[arg-type]
)
ACCEPTS_DATA_COLUMNS = tuple(r.column for r in ACCEPTS_DATA)


@dataclass(frozen=True)
class Pairs:
    """A batch's params and tags (validated)."""

    params: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class NewRun:
    """A run to create with its first data: ``insert`` (an INSERT ... SELECT ... RETURNING id built
    once, which inserts nothing unless the caller may) bound with ``bound``."""

    id: str
    insert: Insert
    bound: dict[str, Any]
    pairs: Pairs


def refusal(run_id: str, values: tuple[Any, ...]) -> FailedPrecondition | None:
    """The error for a run whose ``ACCEPTS_DATA_COLUMNS`` hold ``values``, or None if it accepts data."""
    for req, got in zip(ACCEPTS_DATA, values, strict=True):
        if got != req.value:
            details = {req.detail: got} if req.detail else {}
            return FailedPrecondition(req.message.format(run_id=run_id, got=got), details)
    return None


def newest_per_key(rows: list[MetricRow]) -> list[MetricRow]:
    """Each key's newest point in a batch (highest step, then newest timestamp, then last)."""
    best: dict[str, MetricRow] = {}
    for r in rows:
        cur = best.get(r[0])
        if cur is None or (r[1], r[2]) >= (cur[1], cur[2]):
            best[r[0]] = r
    return list(best.values())


@functools.cache
def accepting_run(for_caller: bool) -> Select[Any]:
    """The id of the run bound as ``:run_id`` if it accepts data (``ACCEPTS_DATA``) and, when
    ``for_caller``, the non-admin caller bound as ``:uid``/``:default_level`` (``caller_params``)
    holds EDIT on its experiment; the run row is locked FOR KEY SHARE (PostgreSQL; SQLite renders
    no lock clause: its writers are serialised anyway)."""
    stmt = (
        select(Run.id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.id == bindparam("run_id"), *(r.column == r.value for r in ACCEPTS_DATA))
    )
    if for_caller:
        stmt = stmt.where(permissions.bound_level_at_least("experiment", Run.experiment_id, "EDIT"))
    return stmt.with_for_update(read=True, key_share=True, of=Run)


def caller_params(actor: Principal, run_id: str) -> dict[str, Any] | None:
    """The per-call values of ``accepting_run(not actor.is_admin)``; None when the caller's role
    can never edit (nothing to ask the database)."""
    if not permissions.role_allows(actor, "EDIT"):
        return None
    return {"run_id": run_id, **experiments.grant_params(actor)}


_ACCEPTING_PER_CALL = frozenset({"run_id", "uid", "default_level"})


@functools.cache
def rendered(stmt: ClauseElement, dialect: str, per_call: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """A statement built once (``stmt`` must be the same object each time) as the dialect's SQL
    text with named placeholders (the DBAPI's own: ``:name``, ``%(name)s``), and the values of its
    constant parameters; the caller adds the ``per_call`` ones. Rendered once per process."""
    compiler: Dialect = (
        postgresql.psycopg.dialect() if dialect == "postgresql" else sqlite.dialect(paramstyle="named")
    )
    compiled = stmt.compile(dialect=compiler)
    assert isinstance(compiled, SQLCompiler)
    state = compiled.construct_expanded_state(dict.fromkeys(per_call))
    constants = {k: v for k, v in state.parameters.items() if k not in per_call}
    return state.statement, constants


COLUMNS = "run_id, key, step, timestamp, value, is_nan"
# Move a key's latest value only forward (both SQLite and PostgreSQL speak this upsert).
LATEST_UPSERT = (
    "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, "
    "value = excluded.value, is_nan = excluded.is_nan "
    "WHERE excluded.step > latest_metrics.step "
    "OR (excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)"
)


# ---------------------------------------------------------------- the writers


class MetricWriter(Protocol):
    dialect: str
    autocommit_points: bool

    def write(self, session: Session | Connection, run_id: str, rows: list[MetricRow]) -> None:
        """Insert the points and move the latest values, in the caller's (checked) transaction."""

    def write_checked(
        self, session: Session | Connection, actor: Principal, run_id: str, rows: list[MetricRow]
    ) -> bool:
        """Write only if ``actor`` holds EDIT on the run and the run accepts data
        (``accepting_run``); False, with nothing written, otherwise."""

    def write_batch(
        self, session: Session, actor: Principal, run_id: str, pairs: Pairs, rows: list[MetricRow]
    ) -> list[str] | None:
        """In the caller's write transaction, if ``actor`` holds EDIT on the run and it accepts data
        (``accepting_run``, which keeps the run row locked): insert the params not logged yet, set
        the tags, write the points. Returns the param keys that were already logged (the caller
        compares their values: params are immutable), or None, with nothing written, if refused."""

    def write_new_run(self, session: Session, run: NewRun, rows: list[MetricRow]) -> bool:
        """Insert a run with its first params, tags and points; False, with nothing written, when
        ``run.insert`` inserted no run (the caller may not)."""


class SQLiteMetricWriter:
    dialect = "sqlite"
    autocommit_points = False

    _POINTS = f"INSERT INTO metrics ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    _LATEST = f"INSERT INTO latest_metrics ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) {LATEST_UPSERT}"

    def write(self, session: Session | Connection, run_id: str, rows: list[MetricRow]) -> None:
        with rawsql.cursor(session) as (cur, _mark):
            cur.executemany(self._POINTS, [(run_id, *r) for r in rows])
            cur.executemany(self._LATEST, [(run_id, *r) for r in newest_per_key(rows)])

    def write_checked(
        self, session: Session | Connection, actor: Principal, run_id: str, rows: list[MetricRow]
    ) -> bool:
        # The check begins the caller's write transaction (BEGIN IMMEDIATE, db.py), and SQLite
        # runs one write transaction at a time: the run cannot change before the write.
        accepting = self._accepting(session, actor, run_id)
        if accepting:
            self.write(session, run_id, rows)
        return accepting

    def _accepting(self, session: Session | Connection, actor: Principal, run_id: str) -> bool:
        bound = caller_params(actor, run_id)
        if bound is None:
            return False
        sql, constants = rendered(accepting_run(not actor.is_admin), self.dialect, _ACCEPTING_PER_CALL)
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(sql, {**constants, **bound})
            return cur.fetchone() is not None

    _PARAM = "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO NOTHING"
    _TAG = (
        "INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
    )

    def write_batch(
        self, session: Session, actor: Principal, run_id: str, pairs: Pairs, rows: list[MetricRow]
    ) -> list[str] | None:
        if not self._accepting(session, actor, run_id):
            return None
        repeated = []
        with rawsql.cursor(session) as (cur, _mark):
            for k, v in pairs.params.items():
                cur.execute(self._PARAM, (run_id, k, v))
                if cur.rowcount == 0:
                    repeated.append(k)
            cur.executemany(self._TAG, [(run_id, k, v) for k, v in pairs.tags.items()])
        if rows:
            self.write(session, run_id, rows)
        return repeated

    def write_new_run(self, session: Session, run: NewRun, rows: list[MetricRow]) -> bool:
        sql, constants = rendered(run.insert, self.dialect, frozenset(run.bound))
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(sql, {**constants, **run.bound})
            if cur.fetchone() is None:
                return False
            for table, pairs in (("params", run.pairs.params), ("run_tags", run.pairs.tags)):
                if pairs:
                    sql = f"INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?)"
                    cur.executemany(sql, [(run.id, k, v) for k, v in pairs.items()])
        if rows:
            self.write(session, run.id, rows)
        return True


_ARRAYS = (
    ("keys", "varchar"),
    ("steps", "bigint"),
    ("timestamps", "bigint"),
    ("values", "float8"),
    ("nans", "boolean"),
)


def _pg_rows(prefix: str) -> str:
    """The five parallel arrays (key, step, timestamp, value, is_nan) bound as ``<prefix>_keys``,
    ``<prefix>_steps``, ... as rows."""
    return "unnest(" + ", ".join(f"%({prefix}_{name})s::{type_}[]" for name, type_ in _ARRAYS) + ")"


def _pg_arrays(prefix: str, rows: list[MetricRow]) -> dict[str, list[Any]]:
    """The values of ``_pg_rows(prefix)``."""
    columns = list(zip(*rows, strict=True)) or [()] * len(_ARRAYS)
    return {f"{prefix}_{name}": list(col) for (name, _t), col in zip(_ARRAYS, columns, strict=True)}


def _pg_pairs(prefix: str) -> str:
    """Key/value pairs (params, tags) bound as ``<prefix>_keys`` and ``<prefix>_values``, as rows."""
    return f"unnest(%({prefix}_keys)s::varchar[], %({prefix}_values)s::text[])"


def _pg_pair_values(prefix: str, pairs: dict[str, str]) -> dict[str, list[str]]:
    return {f"{prefix}_keys": list(pairs), f"{prefix}_values": list(pairs.values())}


_PG_PAIRS = "INSERT INTO {0} (run_id, key, value) SELECT r.id, x.* FROM r, {1} AS x"  # table, rows


_PG_RUN_GIVEN = "SELECT CAST(%(run_id)s AS VARCHAR) AS id"
# from r (the run) and the batch: all points (p_*), each key's newest point (b_*)
_PG_POINTS = f"INSERT INTO metrics ({COLUMNS}) SELECT r.id, p.* FROM r, {_pg_rows('p')} AS p"
_PG_LATEST = (
    f"INSERT INTO latest_metrics ({COLUMNS}) SELECT r.id, b.* FROM r, {_pg_rows('b')} AS b {LATEST_UPSERT}"
)


class PostgresMetricWriter:
    """Every statement here has a fixed text per shape (the shape's flags choose the CTEs; the points
    travel as arrays), and its plan does not depend on the values: a run's id, a key, the caller's
    grants. So each runs as a prepared statement of its connection (psycopg's ``prepare=True``, as
    ``db._prepared_execute`` does for the statements that ask with ``tether_prepare``): planning these
    CTEs was half to two thirds of PostgreSQL's CPU per write (``bench.write_costs``: one
    ``log_metric`` 0.55 -> 0.18 ms, a bare run 0.38 -> 0.15 ms, a batch of 5 params + 5 metrics
    0.78-0.88 -> 0.38-0.42 ms)."""

    dialect = "postgresql"
    autocommit_points = True
    COPY_MIN_ROWS = 64  # below this, COPY's extra round trip costs more than it saves

    _SMALL = f"WITH r AS ({_PG_RUN_GIVEN}), ins AS ({_PG_POINTS}) {_PG_LATEST}"
    _LATEST_ONLY = f"WITH r AS ({_PG_RUN_GIVEN}) {_PG_LATEST}"

    @staticmethod
    @functools.cache
    def _checked(for_caller: bool) -> tuple[str, dict[str, Any]]:
        """Check (``accepting_run``), insert and upsert in one statement; it counts the runs found."""
        run, constants = rendered(accepting_run(for_caller), "postgresql", _ACCEPTING_PER_CALL)
        return (
            f"WITH r AS ({run}), ins AS ({_PG_POINTS}), up AS ({_PG_LATEST}) SELECT count(*) FROM r",
            constants,
        )

    @staticmethod
    @functools.cache
    def _new_run(
        insert: Insert, per_call: frozenset[str], params: bool, tags: bool, points: bool
    ) -> tuple[str, dict[str, Any]]:
        """The run's INSERT ... RETURNING id as ``r``, and its params, tags and points (those it has:
        a bare run is its INSERT alone, which PostgreSQL plans in about half the time) in one
        statement."""
        run, constants = rendered(insert, "postgresql", per_call)
        ctes = [
            f"r AS ({run})",
            *([f"pa AS ({_PG_PAIRS.format('params', _pg_pairs('np'))})"] if params else []),
            *([f"tg AS ({_PG_PAIRS.format('run_tags', _pg_pairs('nt'))})"] if tags else []),
            *([f"ins AS ({_PG_POINTS})", f"up AS ({_PG_LATEST})"] if points else []),
        ]
        return f"WITH {', '.join(ctes)} SELECT count(*) FROM r", constants

    @staticmethod
    @functools.cache
    def _batch(
        for_caller: bool, params: bool, tags: bool, latest: bool, points: bool
    ) -> tuple[str, dict[str, Any]]:
        """Check (``accepting_run``), then the params, tags, latest values and points (those the
        batch has; ``points`` False when they are copied afterwards) in one statement; it answers
        the runs found and the param keys it inserted."""
        run, constants = rendered(accepting_run(for_caller), "postgresql", _ACCEPTING_PER_CALL)
        ctes = [
            f"r AS ({run})",
            *(
                [
                    f"pa AS ({_PG_PAIRS.format('params', _pg_pairs('np'))} "
                    "ON CONFLICT (run_id, key) DO NOTHING RETURNING key)"
                ]
                if params
                else []
            ),
            *(
                [
                    f"tg AS ({_PG_PAIRS.format('run_tags', _pg_pairs('nt'))} ON CONFLICT (run_id, key) "
                    "DO UPDATE SET value = excluded.value)"
                ]
                if tags
                else []
            ),
            *([f"up AS ({_PG_LATEST})"] if latest else []),
            *([f"ins AS ({_PG_POINTS})"] if points else []),
        ]
        inserted = "ARRAY(SELECT key FROM pa)" if params else "ARRAY[]::varchar[]"
        return f"WITH {', '.join(ctes)} SELECT count(*), {inserted} FROM r", constants

    def write_batch(
        self, session: Session, actor: Principal, run_id: str, pairs: Pairs, rows: list[MetricRow]
    ) -> list[str] | None:
        bound = caller_params(actor, run_id)
        if bound is None:
            return None
        copy = len(rows) >= self.COPY_MIN_ROWS
        sql, constants = self._batch(
            not actor.is_admin, bool(pairs.params), bool(pairs.tags), bool(rows), bool(rows) and not copy
        )
        values = {**constants, **bound}
        if pairs.params:
            values |= _pg_pair_values("np", pairs.params)
        if pairs.tags:
            values |= _pg_pair_values("nt", pairs.tags)
        if rows:
            values |= _pg_arrays("b", newest_per_key(rows))
        if rows and not copy:
            values |= _pg_arrays("p", rows)
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(sql, values, prepare=True)
            found, inserted = cur.fetchone()
            if not found:
                return None
            if copy:
                self._copy(cur, run_id, rows)
        return [k for k in pairs.params if k not in set(inserted)]

    @staticmethod
    def _copy(cur: Any, run_id: str, rows: list[MetricRow]) -> None:
        """Binary COPY of the points (about 30% less server time than an array insert)."""
        with cur.copy(f"COPY metrics ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["varchar", "varchar", "int8", "int8", "float8", "bool"])
            for r in rows:
                cp.write_row((run_id, *r))

    def write(self, session: Session | Connection, run_id: str, rows: list[MetricRow]) -> None:
        best = _pg_arrays("b", newest_per_key(rows))
        with rawsql.cursor(session) as (cur, _mark):
            if len(rows) < self.COPY_MIN_ROWS:  # one statement, one round trip
                cur.execute(self._SMALL, {"run_id": run_id, **_pg_arrays("p", rows), **best}, prepare=True)
                return
            self._copy(cur, run_id, rows)  # many points
            cur.execute(self._LATEST_ONLY, {"run_id": run_id, **best}, prepare=True)

    def write_checked(
        self, session: Session | Connection, actor: Principal, run_id: str, rows: list[MetricRow]
    ) -> bool:
        bound = caller_params(actor, run_id)
        if bound is None:
            return False
        sql, constants = self._checked(not actor.is_admin)
        params = {**constants, **bound, **_pg_arrays("p", rows), **_pg_arrays("b", newest_per_key(rows))}
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(sql, params, prepare=True)
            return bool(cur.fetchone()[0])

    def write_new_run(self, session: Session, run: NewRun, rows: list[MetricRow]) -> bool:
        # One statement: atomic in the autocommit session the caller uses (``autocommit_points``).
        params, tags = run.pairs.params, run.pairs.tags
        sql, constants = self._new_run(run.insert, frozenset(run.bound), bool(params), bool(tags), bool(rows))
        values = {**constants, **run.bound}
        if params:
            values |= _pg_pair_values("np", params)
        if tags:
            values |= _pg_pair_values("nt", tags)
        if rows:
            values |= {**_pg_arrays("p", rows), **_pg_arrays("b", newest_per_key(rows))}
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(sql, values, prepare=True)
            return bool(cur.fetchone()[0])


_WRITERS: dict[str, MetricWriter] = {"sqlite": SQLiteMetricWriter(), "postgresql": PostgresMetricWriter()}


def for_dialect(dialect: str) -> MetricWriter:
    """The writer for a database dialect (``Database`` picks it once, when it is built)."""
    try:
        return _WRITERS[dialect]
    except KeyError:
        raise ValueError(f"No metric writer for the {dialect!r} database") from None


def of(session: Session) -> MetricWriter:
    """The writer of the database this session belongs to."""
    writer = session.info.get("metric_writer")
    return writer if writer is not None else for_dialect(session.get_bind().dialect.name)
