"""Outcomes of an A/B test, and the per-arm sufficient statistics the decision reads.

Two ways in (one request may carry both):

* ``windows``: per (arm, metric, window, source) sufficient statistics of the units seen in that
  window: ``n`` units and ``successes`` for a proportion, or ``n``, ``sum``, ``sum_sq`` (and
  optionally ``events``, the units with a non-zero outcome) for a mean. A re-post of the same
  (test, arm, metric, window_start, source) replaces the earlier row, so retries are idempotent.
* ``rows``: raw ``{"unit", "value", "metric"?}`` outcomes. The server recomputes each unit's arm
  from its id with the documented assignment (it never trusts a client's arm) and adds the value
  to the unit's running total: several outcomes of one unit are one unit with their sum (the unit
  of analysis is the unit). Raw rows add up, so a retried batch must carry an Idempotency-Key.

Every exposed unit should be reported, with 0 when nothing happened: ``n`` counts reported units,
and the sample-ratio check compares those counts with the planned shares.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, case, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..._lazy import lazy_module
from ...errors import FailedPrecondition, InvalidArgument
from ...models import now_ms
from ...models.abtests import ABOutcomeWindow, ABTest, ABUnitOutcome
from ...stats.sequential import ArmStats
from .catalog import assigner

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_WINDOWS = 1000
MAX_ROWS = 10_000
_WINDOW_KEYS = {"arm", "metric", "window_start", "source", "n", "successes", "sum", "sum_sq", "events"}


def _bad(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, {"field": field})


def metric_types(test: ABTest) -> dict[str, str]:
    """The metrics a test accepts (primary first, then guardrails) and their types."""
    out = {test.metric: test.metric_type}
    for g in test.guardrails or []:
        out.setdefault(g["metric"], g["metric_type"])
    return out


def _num(v: Any, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _bad(f"{field} must be a finite number", field)
    return float(v)


def _count(v: Any, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10**12:
        raise _bad(f"{field} must be an integer >= 0", field)
    return v


def window_row(w: Any, i: int, arms: dict[str, int], types: dict[str, str]) -> dict[str, Any]:
    """One validated window; ``arms`` maps arm names to indices, ``types`` is ``metric_types``
    (primary metric first: the default)."""
    f = f"windows[{i}]"
    if not isinstance(w, dict) or set(w) - _WINDOW_KEYS:
        raise _bad(f"{f} takes {sorted(_WINDOW_KEYS)}", f)
    if w.get("arm") not in arms:
        raise _bad(f"{f}.arm must be one of {list(arms)}", f"{f}.arm")
    metric = w.get("metric", next(iter(types)))
    if metric not in types:
        raise _bad(f"{f}.metric must be one of {list(types)}", f"{f}.metric")
    source = w.get("source", "")
    if not isinstance(source, str) or len(source) > 200:
        raise _bad(f"{f}.source must be a string of at most 200 characters", f"{f}.source")
    start = w.get("window_start")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < 2**62:
        raise _bad(f"{f}.window_start must be epoch milliseconds", f"{f}.window_start")
    n = _count(w.get("n"), f"{f}.n")
    if types[metric] == "proportion":
        k = _count(w.get("successes", w.get("sum")), f"{f}.successes")
        stats = ArmStats.from_proportion(n, k) if k <= n else None
        if stats is None:
            raise _bad(f"{f}: successes cannot exceed n", f"{f}.successes")
    else:
        s, q = _num(w.get("sum"), f"{f}.sum"), _num(w.get("sum_sq"), f"{f}.sum_sq")
        events = _count(w.get("events", n), f"{f}.events")
        if q < 0 or events > n or (n and q * n < s * s * (1 - 1e-9)):
            raise _bad(f"{f}: need sum_sq >= 0, sum_sq * n >= sum**2 and events <= n", f)
        stats = ArmStats(n, s, q, events)
    return {"arm": arms[w["arm"]], "metric": metric, "window_start": start, "source": source,
            "n": stats.n, "sum": stats.sum, "sum_sq": stats.sum_sq, "events": stats.events}  # fmt: skip


def insert_for(session: Session, model: Any) -> Any:
    """The dialect's INSERT (both have ``on_conflict_do_update``)."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


def post_windows(session: Session, test: ABTest, windows: Any) -> int:
    if not isinstance(windows, list) or len(windows) > MAX_WINDOWS:
        raise _bad(f"windows must be a list of at most {MAX_WINDOWS}", "windows")
    arms = {a["name"]: i for i, a in enumerate(test.arms)}
    types = metric_types(test)
    rows = [window_row(w, i, arms, types) for i, w in enumerate(windows)]
    if not rows:
        return 0
    now = now_ms()
    stmt = insert_for(session, ABOutcomeWindow).values(
        [{**r, "test_id": test.id, "updated_at": now} for r in rows]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["test_id", "arm", "metric", "window_start", "source"],
        set_={k: stmt.excluded[k] for k in ("n", "sum", "sum_sq", "events", "updated_at")},
    )
    session.execute(stmt)
    return len(rows)


def post_rows(session: Session, test: ABTest, rows: Any) -> int:
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise _bad(f"rows must be a list of at most {MAX_ROWS}", "rows")
    types = metric_types(test)
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for i, r in enumerate(rows):
        f = f"rows[{i}]"
        if not isinstance(r, dict) or set(r) - {"unit", "value", "metric"}:
            raise _bad(f"{f} takes unit, value and metric", f)
        unit = r.get("unit")
        if isinstance(unit, int) and not isinstance(unit, bool):
            unit = str(unit)
        if not isinstance(unit, str) or not 1 <= len(unit) <= 250:
            raise _bad(f"{f}.unit must be 1-250 characters", f"{f}.unit")
        metric = r.get("metric", test.metric)
        if metric not in types:
            raise _bad(f"{f}.metric must be one of {list(types)}", f"{f}.metric")
        totals[(metric, unit)] += _num(r.get("value"), f"{f}.value")
    if not totals:
        return 0
    arm_of = assigner(test).as_function()
    now = now_ms()
    values = [
        {"test_id": test.id, "metric": m, "unit": u, "arm": arm_of(u), "value": v, "first_seen": now}
        for (m, u), v in totals.items()
    ]
    stmt = insert_for(session, ABUnitOutcome).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["test_id", "metric", "unit"],
        set_={"value": ABUnitOutcome.value + stmt.excluded.value},
    )
    session.execute(stmt)
    return len(rows)


def post_outcomes(session: Session, test: ABTest, body: Any) -> dict[str, int]:
    if not isinstance(body, dict) or not body or set(body) - {"windows", "rows"}:
        raise InvalidArgument(
            'The body is {"windows": [...]} and/or {"rows": [...]}', {"fields": ["windows", "rows"]}
        )
    if test.status == "draft":
        raise FailedPrecondition(f"A/B test {test.id} is a draft; start it before posting outcomes")
    return {
        "windows": post_windows(session, test, body["windows"]) if "windows" in body else 0,
        "rows": post_rows(session, test, body["rows"]) if "rows" in body else 0,
    }


# ---------------------------------------------------------------- statistics for the decision

TOTALS_WINDOWS, TOTALS_UNITS, HISTORY_WINDOWS, HISTORY_UNITS = 0, 1, 2, 3
HOUR_MS = 3_600_000


def _unit_columns(metric_type: str) -> tuple[Any, Any, Any]:
    if metric_type == "proportion":  # a unit converted if its summed outcome is positive
        hit = case((ABUnitOutcome.value > 0, 1.0), else_=0.0)
        return func.sum(hit), func.sum(hit), func.sum(hit)
    nz = case((ABUnitOutcome.value != 0, 1), else_=0)
    return func.sum(ABUnitOutcome.value), func.sum(ABUnitOutcome.value * ABUnitOutcome.value), func.sum(nz)


def aggregates_query(tid: int, types: dict[str, str]) -> Any:
    """ONE statement: per (metric, arm) totals of the window rows and of the raw unit totals, and
    per (time, arm) sums of the primary metric for the history chart. Rows are ``(kind, metric,
    t, arm, n, sum, sum_sq, events)`` with ``kind`` one of the four constants above. ``types`` is
    ``metric_types(test)`` (primary metric first)."""
    w, u = ABOutcomeWindow, ABUnitOutcome
    metric, metric_type = next(iter(types.items()))
    parts: list[Any] = [
        select(literal(TOTALS_WINDOWS), w.metric, literal(0, BigInteger), w.arm, func.sum(w.n), func.sum(w.sum),
               func.sum(w.sum_sq), func.sum(w.events))
        .where(w.test_id == tid).group_by(w.metric, w.arm),
    ]  # fmt: skip
    by_type: dict[str, list[str]] = defaultdict(list)
    for m, t in types.items():
        by_type[t].append(m)
    for metric_type, metrics in by_type.items():
        s, sq, ev = _unit_columns(metric_type)
        parts.append(
            select(literal(TOTALS_UNITS), u.metric, literal(0, BigInteger), u.arm, func.count(), s, sq, ev)
            .where(u.test_id == tid, u.metric.in_(metrics)).group_by(u.metric, u.arm)
        )  # fmt: skip
    primary = literal(metric)
    parts.append(
        select(literal(HISTORY_WINDOWS), primary, w.window_start, w.arm, func.sum(w.n), func.sum(w.sum),
               func.sum(w.sum_sq), literal(0, BigInteger))
        .where(w.test_id == tid, w.metric == metric).group_by(w.window_start, w.arm)
    )  # fmt: skip
    hour = (u.first_seen // HOUR_MS) * HOUR_MS  # raw outcomes enter at the hour they were first seen
    s, sq, _ev = _unit_columns(metric_type)
    parts.append(
        select(literal(HISTORY_UNITS), primary, hour, u.arm, func.count(), s, sq, literal(0, BigInteger))
        .where(u.test_id == tid, u.metric == metric).group_by(hour, u.arm)
    )  # fmt: skip
    return union_all(*parts)


Row = tuple[int, str, int, int, float, float, float, float]


def read_aggregates(session: Session, tid: int, types: dict[str, str], stmt: Any = None) -> tuple[Row, ...]:
    """The rows of ``aggregates_query`` (or of ``stmt``, the same query built earlier), normalised and
    sorted (they are the data version: equal rows mean equal results for an unchanged test). Core on
    the session's connection: the rows are plain tuples."""
    query = aggregates_query(tid, types) if stmt is None else stmt
    rows = (
        (int(k), str(m), int(t or 0), int(a), float(n or 0), float(sm or 0), float(q or 0), float(e or 0))
        for k, m, t, a, n, sm, q, e in session.connection().execute(query)
    )
    return tuple(sorted(rows))


def arm_stats(test: ABTest, rows: tuple[Row, ...], metric: str) -> list[ArmStats]:
    """Per-arm statistics of ``metric``: window rows plus raw unit totals, control first."""
    acc = np.zeros((len(test.arms), 4))
    for kind, m, _t, arm, *vals in rows:
        if kind <= TOTALS_UNITS and m == metric and 0 <= arm < len(test.arms):
            acc[arm] += vals
    return [ArmStats(int(n), float(sm), max(float(q2), 0.0), min(int(e), int(n))) for n, sm, q2, e in acc]


def history(test: ABTest, rows: tuple[Row, ...], max_points: int = 120) -> list[tuple[int, np.ndarray]]:
    """Cumulative per-arm [n, sum, sum_sq] of the primary metric at each window start (raw unit
    outcomes enter at the hour they were first seen), for the interval-over-time chart."""
    k = len(test.arms)
    steps: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((k, 3)))
    for kind, _m, ts, arm, n, sm, q, _e in rows:
        if kind >= HISTORY_WINDOWS and 0 <= arm < k:
            steps[ts][arm] += (n, sm, q)
    times = sorted(steps)
    if not times:
        return []
    cum = np.cumsum(np.stack([steps[t] for t in times]), axis=0)
    idx = np.unique(np.linspace(0, len(times) - 1, min(max_points, len(times))).round().astype(int))
    return [(times[i], cum[i]) for i in idx]
