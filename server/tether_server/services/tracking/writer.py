"""The one way a metric point is written: ``MetricWriter``.

Every metric write (a batch, a run's initial metrics, the single ``log_metric`` route) goes
through the writer of the session's database, chosen once when the ``Database`` is built
(``for_dialect``; ``of(session)`` finds it again). Two rules live here and nowhere else:

- **A run accepts data** while it is RUNNING, not deleted, and its experiment is not deleted:
  ``ACCEPTS_DATA``. ``refusal()`` turns it into the error a caller sees; ``ACCEPTS_DATA_SQL`` is
  the same table rendered as SQL for the PostgreSQL statement that re-checks it while writing.
- **The latest value** of a key moves only forward (higher step, or the same step and a timestamp
  at least as new): ``newest_per_key()`` within a batch, ``LATEST_UPSERT`` against the table.

``write(session, run_id, rows)`` runs inside the caller's write transaction, after the caller
checked the run (``runs.writable_run``, which on PostgreSQL keeps a KEY SHARE lock on the run row).
``write_checked`` is the single-point path: on PostgreSQL ONE autocommit statement that locks the
run, re-checks the rule, inserts and moves the latest values (two round trips per request, not
five); on SQLite the caller's write transaction began with the check and writers are serialised
from their first statement, so it cannot change before the write. ``autocommit_points`` tells the
view which session the single-point path wants.

Both write through the DBAPI cursor of the session's own connection (same transaction): building
thousands of parameter dicts through SQLAlchemy was most of a batch's cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ...errors import FailedPrecondition
from ...models import Experiment, Run
from .. import rawsql

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
# The same rule as SQL over ``runs JOIN experiments`` (constants only, rendered once; both
# dialects render it alike).
ACCEPTS_DATA_SQL = str(
    and_(*(r.column == r.value for r in ACCEPTS_DATA)).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
)


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

    def write(self, session: Session, run_id: str, rows: list[MetricRow]) -> None:
        """Insert the points and move the latest values, in the caller's (checked) transaction."""

    def write_checked(self, session: Session, run_id: str, rows: list[MetricRow]) -> bool:
        """Write only if the run still accepts data; False (nothing written) if it no longer does."""


class SQLiteMetricWriter:
    dialect = "sqlite"
    autocommit_points = False

    _POINTS = f"INSERT INTO metrics ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    _LATEST = f"INSERT INTO latest_metrics ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) {LATEST_UPSERT}"

    def write(self, session: Session, run_id: str, rows: list[MetricRow]) -> None:
        with rawsql.cursor(session) as (cur, _mark):
            cur.executemany(self._POINTS, [(run_id, *r) for r in rows])
            cur.executemany(self._LATEST, [(run_id, *r) for r in newest_per_key(rows)])

    def write_checked(self, session: Session, run_id: str, rows: list[MetricRow]) -> bool:
        # The caller's write transaction began (BEGIN IMMEDIATE, db.py) with its check of the run,
        # and SQLite runs one write transaction at a time: the run cannot change in between.
        self.write(session, run_id, rows)
        return True


# Five parallel arrays (key, step, timestamp, value, is_nan) as rows.
_PG_UNNEST = "unnest(%s::varchar[], %s::bigint[], %s::bigint[], %s::float8[], %s::boolean[])"
_PG_RUN_ACCEPTING = (
    "SELECT runs.id FROM runs JOIN experiments ON experiments.id = runs.experiment_id "
    f"WHERE runs.id = %s AND {ACCEPTS_DATA_SQL} FOR KEY SHARE OF runs"
)
_PG_RUN_GIVEN = "SELECT CAST(%s AS VARCHAR) AS id"
_PG_POINTS = f"INSERT INTO metrics ({COLUMNS}) SELECT r.id, m.* FROM r, {_PG_UNNEST} AS m"
_PG_LATEST = (
    f"INSERT INTO latest_metrics ({COLUMNS}) SELECT r.id, b.* FROM r, {_PG_UNNEST} AS b {LATEST_UPSERT}"
)


class PostgresMetricWriter:
    dialect = "postgresql"
    autocommit_points = True
    COPY_MIN_ROWS = 64  # below this, COPY's extra round trip costs more than it saves

    _SMALL = f"WITH r AS ({_PG_RUN_GIVEN}), ins AS ({_PG_POINTS}) {_PG_LATEST}"
    _LATEST_ONLY = f"WITH r AS ({_PG_RUN_GIVEN}) {_PG_LATEST}"
    _CHECKED = (
        f"WITH r AS ({_PG_RUN_ACCEPTING}), ins AS ({_PG_POINTS}), up AS ({_PG_LATEST}) SELECT count(*) FROM r"
    )

    @staticmethod
    def _arrays(rows: list[MetricRow]) -> list[list[Any]]:
        return [list(c) for c in zip(*rows, strict=True)]

    def write(self, session: Session, run_id: str, rows: list[MetricRow]) -> None:
        best = self._arrays(newest_per_key(rows))
        with rawsql.cursor(session) as (cur, _mark):
            if len(rows) < self.COPY_MIN_ROWS:  # one statement, one round trip
                cur.execute(self._SMALL, (run_id, *self._arrays(rows), *best))
                return
            # many points: binary COPY (about 30% less server time than an array insert)
            with cur.copy(f"COPY metrics ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["varchar", "varchar", "int8", "int8", "float8", "bool"])
                for r in rows:
                    cp.write_row((run_id, *r))
            cur.execute(self._LATEST_ONLY, (run_id, *best))

    def write_checked(self, session: Session, run_id: str, rows: list[MetricRow]) -> bool:
        best = self._arrays(newest_per_key(rows))
        with rawsql.cursor(session) as (cur, _mark):
            cur.execute(self._CHECKED, (run_id, *self._arrays(rows), *best))
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
