"""Runs: create, read, update status, soft delete; params/tags/metrics logging in atomic batches."""

from __future__ import annotations

import functools
import math
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ...models import Experiment, LatestMetric, Metric, Param, Run, RunTag, new_id, now_ms
from .. import rawsql
from ..identity import permissions
from ..validation import STATUSES, TERMINAL, check_int, check_key, check_tags, check_value, metric_value
from . import experiments, writer
from .writer import MetricRow


@functools.cache
def _load_run_stmt(with_grant: bool, lock: bool = False) -> Any:
    cols: list[Any] = [Run, *writer.ACCEPTS_DATA_COLUMNS]
    if with_grant:
        cols.append(permissions.bound_grant_level("experiment", Run.experiment_id))
    stmt = (
        select(*cols).join(Experiment, Experiment.id == Run.experiment_id).where(Run.id == bindparam("rid"))
    )
    # Writers hold a KEY SHARE lock on the run row until they commit: what a foreign key from
    # metrics would take once per inserted row, taken once per request (metrics has no FK; see
    # hard_delete_run). SQLite renders no lock clause; its writers are serialised anyway.
    return stmt.with_for_update(key_share=True, of=Run) if lock else stmt


def _load_run(
    session: Session, actor: Principal, run_id: str, level: str, lock: bool = False
) -> tuple[Run, tuple[Any, ...]]:
    """The run and the values of ``writer.ACCEPTS_DATA_COLUMNS`` in one query, with the caller's
    grant joined in.
    The statement is built once and reused (it runs on every logging request)."""
    if not isinstance(run_id, str) or len(run_id) > 32:
        raise NotFound(f"Run {str(run_id)[:40]!r} not found")
    params: dict[str, Any] = {"rid": run_id}
    if not actor.is_admin:
        params["uid"] = actor.id
    row = session.execute(_load_run_stmt(not actor.is_admin, lock), params).first()
    if row is None:
        raise NotFound(f"Run {run_id!r} not found")
    n = len(writer.ACCEPTS_DATA_COLUMNS)
    granted = None if actor.is_admin else row[1 + n]
    permissions.check_level(
        permissions.effective_level(actor, granted), level, "experiment", f"Run {run_id!r}"
    )
    return row[0], tuple(row[1 : 1 + n])


def get_run(session: Session, actor: Principal, run_id: str, level: str = "READ") -> Run:
    """The run, if the caller holds ``level`` on its experiment; otherwise NotFound/PermissionDenied."""
    return _load_run(session, actor, run_id, level)[0]


def writable_run(session: Session, actor: Principal, run_id: str, lock: bool = True) -> Run:
    """The run, if the caller may write to it and it accepts data. ``lock`` keeps a KEY SHARE lock
    on its row until the transaction ends (see _load_run_stmt)."""
    run, state = _load_run(session, actor, run_id, "EDIT", lock=lock)
    refused = writer.refusal(run_id, state)
    if refused is not None:
        raise refused
    return run


RUN_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "status",
    "lifecycle",
    "start_time",
    "end_time",
    "parent_run_id",
    "created_by",
)


@functools.cache
def _insert_run_stmt(with_grant: bool) -> Any:
    """INSERT the run only if its experiment is active and the caller holds EDIT on it: the check
    and the insert in one statement (``experiments.writable_clause``), built once."""
    table: Table = Run.__table__  # type: ignore[assignment]  # Core: an ORM insert with parameters would be an ORM bulk insert
    values: dict[str, Any] = {c: bindparam(c, type_=table.c[c].type) for c in RUN_COLUMNS}
    values["experiment_id"] = Experiment.id
    source = select(*(values[c] for c in RUN_COLUMNS)).where(*experiments.writable_clause(with_grant))
    return insert(table).from_select(list(RUN_COLUMNS), source).returning(table.c.id)


def create_run(
    session: Session,
    actor: Principal,
    experiment_id: int,
    *,
    name: str | None = None,
    tags: dict[str, str] | None = None,
    parent_run_id: str | None = None,
    start_time: int | None = None,
    params: Any = None,
    metrics: Any = None,
    max_metrics: int = 10_000,
) -> tuple[Run, dict[str, Any]]:
    """Create a run; initial params and metrics (optional) are logged in the same transaction.

    Returns the run (not attached to the session: no unit of work on this hot path) and its
    ``{"params", "tags", "metrics"}`` as written, which is what a new run holds."""
    tags = check_tags(tags)
    rows, params = parse_metrics(metrics, max_metrics), _check_params(params)
    if name is not None:
        check_value(name, "name")
        if len(name) > 250:
            raise InvalidArgument("Run names are at most 250 characters", {"field": "name"})
    if parent_run_id is not None:
        parent = get_run(session, actor, parent_run_id)
        if parent.experiment_id != experiment_id:
            raise InvalidArgument(
                "A parent run must belong to the same experiment", {"field": "parent_run_id"}
            )
    row = {
        "id": new_id(),
        "experiment_id": experiment_id,
        "name": name or "",
        "status": "RUNNING",
        "lifecycle": "active",
        "start_time": check_int(start_time, "start_time") if start_time is not None else now_ms(),
        "end_time": None,
        "parent_run_id": parent_run_id,
        "created_by": actor.id,
    }
    if not permissions.role_allows(actor, "EDIT"):
        experiments.check_writable(session, actor, experiment_id)  # raises the caller's error
    bound = {**row, "eid": experiment_id, **experiments.grant_params(actor)}
    run_id = str(row["id"])
    new = writer.NewRun(run_id, _insert_run_stmt(not actor.is_admin), bound, writer.Pairs(params, tags))
    if not writer.of(session).write_new_run(session, new, rows):
        experiments.check_writable(session, actor, experiment_id)  # says why nothing was inserted
        raise NotFound(f"Experiment {experiment_id} not found")  # it changed in between
    latest = {
        k: {"value": math.nan if nan else value, "step": step, "timestamp": ts}
        for k, step, ts, value, nan in writer.newest_per_key(rows)
    }
    return Run(**row), {"params": params, "tags": tags, "metrics": latest}


def update_run(
    session: Session,
    actor: Principal,
    run_id: str,
    *,
    status: str | None = None,
    end_time: int | None = None,
    name: str | None = None,
) -> Run:
    run = get_run(session, actor, run_id, "EDIT")
    if run.lifecycle != "active":
        raise FailedPrecondition(f"Run {run_id!r} is deleted")
    if status is not None:
        if status not in STATUSES:
            raise InvalidArgument(f"status must be one of {list(STATUSES)}", {"field": "status"})
        if run.status in TERMINAL and status != run.status:
            raise FailedPrecondition(f"Run {run_id!r} is already {run.status}", {"status": run.status})
        if status in TERMINAL and run.status == "RUNNING" and end_time is None:
            end_time = now_ms()
        run.status = status
    if end_time is not None:
        run.end_time = check_int(end_time, "end_time")
    if name is not None:
        run.name = check_value(name, "name")[:250]
    return run


def delete_run(session: Session, actor: Principal, run_id: str) -> Run:
    run = get_run(session, actor, run_id, "EDIT")
    run.lifecycle = "deleted"
    return run


def restore_run(session: Session, actor: Principal, run_id: str) -> Run:
    run = get_run(session, actor, run_id, "EDIT")
    run.lifecycle = "active"
    return run


def delete_tag(session: Session, actor: Principal, run_id: str, key: str) -> None:
    """Remove one tag of a run that accepts data (EDIT; RUNNING, active run and experiment);
    NotFound when the run has no such tag."""
    writable_run(session, actor, run_id)
    gone = session.execute(delete(RunTag).where(RunTag.run_id == run_id, RunTag.key == key))
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"No tag with name: {key!r} in run with id {run_id!r}", {"key": key})


def set_system_tags(session: Session, actor: Principal, run_id: str, tags: dict[str, str]) -> Run:
    """Tags the server records about a run's artifacts (a logged model's marker), which like the
    artifacts themselves may still be added once the run has finished: EDIT on an active run in an
    active experiment, any status. Existing keys keep their first value."""
    run, state = _load_run(session, actor, run_id, "EDIT")
    for req, got in zip(writer.ACCEPTS_DATA, state, strict=True):
        if req.column is not Run.status and got != req.value:
            raise FailedPrecondition(req.message.format(run_id=run_id, got=got))
    tags = check_tags(tags)
    have = set(session.scalars(select(RunTag.key).where(RunTag.run_id == run.id, RunTag.key.in_(list(tags)))))
    for k, v in tags.items():
        if k not in have:
            session.add(RunTag(run_id=run.id, key=k, value=v))
    session.flush()
    return run


# typed NULLs: PostgreSQL resolves UNION column types branch by branch
_NULLS = "CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS BOOLEAN), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)"


def run_details(session: Session, runs: list[Any]) -> dict[str, dict[str, Any]]:
    """Params, tags and latest metrics for many runs (``Run`` objects or Core rows of ``runs``) in one
    round trip (UNION ALL)."""
    ids = [r.id for r in runs]
    out: dict[str, dict[str, Any]] = {i: {"params": {}, "tags": {}, "metrics": {}} for i in ids}
    if not ids:
        return out
    with rawsql.cursor(session) as (cur, mark):
        where, args = rawsql.in_list(session, "run_id", ids, mark, uses=3)
        # PostgreSQL: one fixed text (the ids are one array parameter), so a prepared statement of the
        # connection; its plan (index lookups by run id) fits every page, and planning the three
        # branches was about a quarter of the statement's time (0.7 of 2.8 ms for 100 runs).
        cur.execute(
            f"SELECT 'p', run_id, key, value, {_NULLS} FROM params WHERE {where} UNION ALL "
            f"SELECT 't', run_id, key, value, {_NULLS} FROM run_tags WHERE {where} UNION ALL "
            f"SELECT 'm', run_id, key, NULL, value, is_nan, step, timestamp FROM latest_metrics WHERE {where}",
            args,
            **rawsql.prepared(session),
        )
        for kind, rid, k, text_value, value, nan, step, ts in cur.fetchall():
            if kind == "m":
                out[rid]["metrics"][k] = {"value": math.nan if nan else value, "step": step, "timestamp": ts}
            else:
                out[rid]["params" if kind == "p" else "tags"][k] = text_value
    return out


# ---------------------------------------------------------------- batch logging


def parse_metrics(raw: Any, limit: int) -> list[MetricRow]:
    """Validate a metrics list quickly (a batch holds up to 10,000 points)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument("metrics must be a list", {"field": "metrics"})
    if len(raw) > limit:
        raise InvalidArgument(
            f"At most {limit} metrics per batch", {"field": "metrics", "max": limit, "got": len(raw)}
        )
    now = now_ms()
    rows: list[MetricRow] = []
    seen_keys: set[str] = set()
    for i, m in enumerate(raw):
        try:
            key = m["key"]
            if key not in seen_keys:
                check_key(key, "metric key")
                seen_keys.add(key)
            value = metric_value(m["value"])
            step = m.get("step", 0)
            ts = m.get("timestamp", now)
            if ts is None:
                ts = now
            if step is None:
                step = 0
            if (
                type(step) is not int
                or type(ts) is not int
                or not (-(2**63) <= step < 2**63)
                or not (0 <= ts < 2**63)
            ):
                raise ValueError("step/timestamp")
        except InvalidArgument as e:
            e.details["index"] = i
            raise
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidArgument(
                f"metrics[{i}] must be {{key: str, value: number|'NaN'|'Infinity'|'-Infinity', step?: int, "
                "timestamp?: int ms}",
                {"field": "metrics", "index": i},
            ) from None
        nan = value != value
        rows.append((key, step, ts, 0.0 if nan else value, nan))
    return rows


def log_batch(
    session: Session,
    actor: Principal,
    run_id: str,
    *,
    params: Any = None,
    metrics: Any = None,
    tags: Any = None,
    max_metrics: int = 10_000,
) -> dict[str, int]:
    """Params, tags and points in the caller's write transaction (the caller rolls back on an error),
    written by ``MetricWriter.write_batch``, which checks the caller's EDIT grant and the run's state
    itself (one statement on PostgreSQL). Only when it wrote nothing does ``writable_run`` say why."""
    rows, params, tags = parse_metrics(metrics, max_metrics), _check_params(params), check_tags(tags)
    repeated = writer.of(session).write_batch(session, actor, run_id, writer.Pairs(params, tags), rows)
    if repeated is None:
        writable_run(session, actor, run_id, lock=False)  # raises the caller's error
        raise FailedPrecondition(f"Run {run_id!r} did not accept new data; nothing was written")
    if repeated:
        _check_unchanged(session, run_id, {k: params[k] for k in repeated})
    return {"metrics": len(rows), "params": len(params), "tags": len(tags)}


def log_points(
    unit: Connection, actor: Principal, run_id: str, rows: list[MetricRow]
) -> dict[str, int] | None:
    """Metrics only (the single ``log_metric`` routes; ``rows`` from ``parse_metrics``, before the
    unit opens), on ``unit``, a Connection that commits by itself (``context.statement()``):
    ``MetricWriter.write_checked`` checks the caller's EDIT grant and the run's state itself, on
    PostgreSQL in the write statement (one round trip, in autocommit), on SQLite at the start of
    the unit's write transaction (BEGIN IMMEDIATE). None when nothing was written: then
    ``points_refused`` says why, on a session."""
    if rows and writer.for_dialect(unit.dialect.name).write_checked(unit, actor, run_id, rows):
        return {"metrics": len(rows), "params": 0, "tags": 0}
    return None


def points_refused(session: Session, actor: Principal, run_id: str, rows: list[MetricRow]) -> dict[str, int]:
    """Why ``log_points`` wrote nothing: ``writable_run`` raises the caller's error (not found,
    permission denied, run not accepting data). An empty list of points asks only that."""
    writable_run(session, actor, run_id, lock=False)
    if rows:  # it accepts data again (a restore between the two statements); nothing was written
        raise FailedPrecondition(f"Run {run_id!r} did not accept new data; nothing was written")
    return {"metrics": 0, "params": 0, "tags": 0}


def _check_params(params: Any) -> dict[str, str]:
    if params is not None and not isinstance(params, dict):
        raise InvalidArgument("params must be an object of key → value", {"field": "params"})
    return {check_key(k, "param key"): check_value(v, "param value") for k, v in (params or {}).items()}


def _check_unchanged(session: Session, run_id: str, params: dict[str, str]) -> None:
    """Params already logged must be logged again with the same value: params are immutable."""
    existing = dict(
        session.execute(
            select(Param.key, Param.value).where(Param.run_id == run_id, Param.key.in_(list(params)))
        ).all()
    )
    for k, v in params.items():
        if existing.get(k, v) != v:
            raise AlreadyExists(
                f"Param {k!r} is already logged with a different value; params are immutable",
                {"key": k, "existing": existing[k], "new": v},
            )


def hard_delete_run(session: Session, run_id: str) -> None:
    """Remove a run's rows for good (used by gc for runs deleted long ago).

    metrics has no foreign key to runs (checking one per inserted point was a third of a batch's
    database time), so the run row is locked first: a writer still inside a transaction holds a
    KEY SHARE lock on it (writable_run), and its points are committed, and deleted here, before
    this lock is granted; a later writer finds no run."""
    session.execute(select(Run.id).where(Run.id == run_id).with_for_update())
    for model in (Metric, LatestMetric, Param, RunTag):
        session.execute(delete(model).where(model.run_id == run_id))
    session.execute(delete(Run).where(Run.id == run_id))


def tagged_runs(
    session: Session, actor: Principal, experiment_ids: list[int], key_prefix: str, limit: int
) -> list[tuple[Run, str, str]]:
    """(run, tag key, tag value) for tags whose key starts with ``key_prefix``, on active runs of the
    given experiments that the caller reads, newest runs first."""
    q = (
        select(Run, RunTag.key, RunTag.value)
        .join(RunTag, RunTag.run_id == Run.id)
        .where(
            Run.experiment_id.in_(experiment_ids),
            Run.lifecycle == "active",
            RunTag.key.startswith(key_prefix, autoescape=True),
            permissions.filter_clause(actor, "experiment", Run.experiment_id),
        )
        .order_by(Run.start_time.desc(), Run.id, RunTag.key)
        .limit(limit)
    )
    return [(run, key, value) for run, key, value in session.execute(q)]
