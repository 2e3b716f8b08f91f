"""Metric history: keyset-paged full history, or a server-side downsample that keeps extremes."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument
from .. import paging, rawsql
from ..validation import check_key
from .runs import get_run

PAGE_DEFAULT = 25_000
PAGE_MAX = 100_000
MAX_POINTS_CAP = 50_000

Point = tuple[int, float, int]  # step, value, timestamp


def history(
    session: Session,
    actor: Principal,
    run_id: str,
    key: str,
    *,
    max_points: int | None = None,
    page_token: str | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    get_run(session, actor, run_id)
    check_key(key, "metric key")
    if max_points is not None:
        if not 2 <= max_points <= MAX_POINTS_CAP:
            raise InvalidArgument(
                f"max_points must be between 2 and {MAX_POINTS_CAP}", {"field": "max_points"}
            )
        pts = _points(_fetch(session, run_id, key, order="step, id"))
        sampled = downsample(pts, max_points)
        return {
            "key": key,
            "items": sampled,
            "next_page_token": None,
            "downsampled": len(sampled) < len(pts),
            "total_points": len(pts),
        }
    limit = PAGE_DEFAULT if max_results is None else max_results
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidArgument(f"max_results must be between 1 and {PAGE_MAX}", {"field": "max_results"})
    scope = paging.scope_of("history", run_id, key)
    tok = paging.decode(page_token, scope)
    after = (int(tok["s"]), int(tok["i"])) if tok else None
    rows = _fetch(session, run_id, key, order="step, id", after=after, limit=limit + 1)
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = paging.encode({"scope": scope, "s": rows[-1][0], "i": rows[-1][4]})
    return {"key": key, "items": _points(rows), "next_page_token": nxt, "downsampled": False}


def columns(result: dict[str, Any]) -> dict[str, Any]:
    """A ``history()`` result as parallel arrays (``steps``, ``values``, ``timestamps``) instead of
    ``items``: the columnar form (``MetricColumnsSchema``), same points, same order."""
    items = result["items"]
    out = {k: v for k, v in result.items() if k != "items"}
    out.update(steps=[p[0] for p in items], values=[p[1] for p in items], timestamps=[p[2] for p in items])
    return out


def _fetch(
    session: Session,
    run_id: str,
    key: str,
    *,
    order: str,
    after: tuple[int, int] | None = None,
    limit: int | None = None,
) -> list[tuple[Any, ...]]:
    """Rows (step, value, is_nan, timestamp, id) through the DBAPI cursor of the session's own
    connection and transaction: SQLAlchemy's per-row result processing was most of the time
    spent serving a 10,000-point history. Only fixed SQL text and bound parameters."""
    with rawsql.cursor(session) as (cur, mark):
        sql = f"SELECT step, value, is_nan, timestamp, id FROM metrics WHERE run_id = {mark} AND key = {mark}"
        params: list[Any] = [run_id, key]
        if after is not None:
            sql += f" AND (step > {mark} OR (step = {mark} AND id > {mark}))"
            params += [after[0], after[0], after[1]]
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur.execute(sql, params)
        return list(cur.fetchall())


def _points(rows: Any) -> list[Point]:
    nan = math.nan
    return [(r[0], nan if r[2] else r[1], r[3]) for r in rows]


def downsample(points: list[Point], n: int) -> list[Point]:
    """Min/max buckets: at most ``n`` points; keeps the first, the last and every bucket's extremes,
    so the global minimum and maximum survive whenever n >= 4. NaN points are kept only where a bucket has
    nothing else."""
    total = len(points)
    if total <= n:
        return points
    inner = points[1:-1]
    buckets = (n - 2) // 2
    if buckets == 0:  # room for the endpoints only (n < 4)
        return [points[0], points[-1]]
    size = len(inner) / buckets
    keep: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        finite = [p for p in chunk if p[1] == p[1]]
        if not finite:
            keep.append(chunk[0])
            continue
        lo = min(finite, key=lambda p: p[1])
        hi = max(finite, key=lambda p: p[1])
        keep.extend(sorted({lo, hi}, key=lambda p: (p[0], p[2])) if lo is not hi else [lo])
    keep.append(points[-1])
    return keep
