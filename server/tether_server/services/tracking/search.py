"""Run search: the filter language (see search_parser, search_filter) + permission filter, all in one SQL query.

The query is shaped so that the database can drive it from the most selective index:

- A comparison on a metric, param or tag that the whole filter requires (a top-level AND term that
  only a run having the key can satisfy) becomes an INNER JOIN on that key's row (one row per run
  and key, so no run repeats) with the comparison on the joined value. The planner can then start
  from the ``(key, value)`` index and look runs up by primary key, instead of visiting every run of
  the experiment with a correlated lookup per term.
- Ordering by a metric, param or tag joins the key's row too: the same INNER JOIN when the filter
  requires the key (its value is then never NULL, so the index order is the sort order), a LEFT
  OUTER JOIN with NULLS LAST otherwise. A metric's NaN latest value sorts like a missing one.
- Everything else (OR, NOT, IS NULL, attributes) compiles exactly as ``compile_filter`` does.

A page sorted first by such a required key (``limited_search``) is read in two steps, because the
tiebreak (start time, id) is not in the key's index. Sorting on the key alone, the index yields rows
in order and the LIMIT stops early; with the tiebreak, PostgreSQL's incremental sort must finish the
last tie group and then find the next *matching* row, which can mean scanning (and probing the other
terms for) many more rows than the page holds: 13,001 rows for a 101-row page of the scale bench.
So a first query ("head") takes the first offset + limit runs by the key alone and the key value of
its last one (the "edge"); the page is then sorted from the head's runs before the edge plus every
matching run whose key equals the edge, a single index range. Same rows and order as ``apply_search``.
Without many ties the one-statement form is cheaper: the overscan is one matching row, while head +
edge plans and runs the filter three times (measured at 5,000 and 100,000 runs with distinct values:
2 to 3 ms more per search). So ``search_runs`` uses head + edge only on PostgreSQL, for a key table
that is large (``HEAD_EDGE_ROWS``) and whose values repeat (``HEAD_EDGE_TIES`` rows per distinct
value on average), both from the planner's statistics (kept by ANALYZE / autovacuum).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, and_, false, func, select, text, union_all
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument
from ...models import Experiment, Run
from .. import paging
from ..identity import permissions
from .search_filter import KEY_MODELS, attribute_sort, compare, compile_node, sort_direction, tiebreak_sort
from .search_parser import BoolOp, Comparison, Field, Node, parse_filter, parse_order_by


def search_runs(
    session: Session,
    actor: Principal,
    *,
    experiment_ids: list[int] | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
    lifecycle: str = "active",
    max_cap: int = 1000,
) -> tuple[list[Row[Any]], str | None]:
    """A page of runs as Core rows (the run's columns as attributes, like a ``Run``): the ORM's
    identity map and instance state cost about as much as the query for a 100-run page."""
    if not 1 <= max_results <= max_cap:
        raise InvalidArgument(
            f"max_results must be between 1 and {max_cap}", {"field": "max_results", "max": max_cap}
        )
    scope = paging.scope_of("runs", experiment_ids, filter, order_by, lifecycle)
    token = paging.decode(page_token, scope)
    offset = int(token["o"]) if token else 0
    shape = (
        (actor.id, actor.role, actor.default_level),  # all that permissions.filter_clause reads
        tuple(experiment_ids or ()),
        filter,
        tuple(order_by or ()),
        lifecycle,
        offset,
        max_results + 1,
    )
    q = _statement(
        shape,
        lambda head_edge: _page_statement(
            actor, experiment_ids, filter, order_by, lifecycle, offset, max_results + 1, head_edge
        ),
        head_edge=lambda table: _tie_heavy(session, table),
    )
    # PostgreSQL plans it with the actual values each time: the engine turns off server-side
    # prepared statements (see db.make_engine), whose generic plan cannot see key and value.
    # A Core statement run on the session's connection: Session.execute would set up the ORM's
    # compile and loading steps for it (about 0.3 ms a page) to return the same rows.
    rows = session.connection().execute(q).all()
    return paging.trim(rows, max_results, scope, "o", lambda _r: offset + max_results)


def _page_statement(
    actor: Principal,
    experiment_ids: list[int] | None,
    filter: str | None,
    order_by: list[str] | None,
    lifecycle: str,
    offset: int,
    limit: int,
    head_edge: Callable[[str], bool],
) -> Select[Any]:
    # The experiments the caller may read (and, for active runs, that are active): checked once per
    # experiment in a subquery, not once per run.
    exps, runs = Experiment.__table__.c, Run.__table__.c  # Core columns: cheaper operators than the ORM's
    visible = select(exps.id).where(permissions.filter_clause(actor, "experiment", exps.id))
    if lifecycle == "active":
        visible = visible.where(exps.lifecycle == "active")
    q = select(Run.__table__).where(runs.experiment_id.in_(visible))
    if experiment_ids:
        q = q.where(runs.experiment_id.in_(experiment_ids))
    if lifecycle != "all":
        q = q.where(runs.lifecycle == lifecycle)
    return limited_search(q, filter, order_by, offset, limit, head_edge=head_edge)


STATEMENT_CACHE_SIZE = 256  # built page statements kept per process (cleared when full)
_statements: dict[Any, tuple[Select[Any], dict[str, bool]]] = {}


def _statement(
    shape: Any, build: Callable[[Callable[[str], bool]], Select[Any]], head_edge: Callable[[str], bool]
) -> Select[Any]:
    """The statement ``build(head_edge)`` makes for a request of this ``shape`` (everything it is built
    from), reused while ``head_edge`` still answers as it did when it was built.

    Building it (parsing the filter, the joins, the permission subquery) and SQLAlchemy's cache key for
    it, which is computed once per statement object, were about a tenth of a search's CPU; a sweep or a
    dashboard repeats the same few searches. A statement is immutable once built, so threads share it."""
    known = _statements.get(shape)
    if known is not None and all(head_edge(table) == was for table, was in known[1].items()):
        return known[0]
    asked: dict[str, bool] = {}

    def recorded(table: str) -> bool:
        asked[table] = head_edge(table)
        return asked[table]

    q = build(recorded)
    if len(_statements) >= STATEMENT_CACHE_SIZE:
        _statements.clear()
    _statements[shape] = (q, asked)
    return q


Sort = tuple[Any, bool, bool]  # ORDER BY item: expression, descending, nullable (NULLs last)


def apply_search(q: Select[Any], filter: str | None, order_by: list[str] | None) -> Select[Any]:
    """Add the filter's WHERE (and key joins) and the ORDER BY (ending in the tiebreak) to a select
    over ``Run``. Same rows and order as ``compile_filter`` + ``compile_order_by``."""
    planned, sort, _lead = _planned(q, filter, order_by)
    return planned.order_by(*_ordered(sort))


HEAD_EDGE_ROWS = 200_000  # rows of the key's table (planner's estimate) from which head + edge is used
HEAD_EDGE_TIES = 20.0  # ... if its values average at least this many rows each
_STATS_TTL = 300.0  # seconds the statistics are reused
_stats: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, bool]]] = weakref.WeakKeyDictionary()


def _tie_heavy(session: Session, table: str) -> bool:
    """True on PostgreSQL when ``table`` (latest_metrics, params or run_tags) is large and its values
    repeat, by ``pg_class.reltuples`` and ``pg_stats.n_distinct``; read at most every few minutes."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return False
    now = time.monotonic()
    known = _stats.setdefault(engine, {}).get(table)
    if known is None or now - known[0] > _STATS_TTL:
        row = session.execute(
            text(
                "SELECT c.reltuples, s.n_distinct FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
                "AND s.attname = 'value' WHERE c.oid = to_regclass(:t)"
            ),
            {"t": table},
        ).first()
        rows, distinct = (float(row[0] or 0), float(row[1] or 0)) if row is not None else (0.0, 0.0)
        # n_distinct < 0 is minus the fraction of rows that are distinct; 0 means unknown
        per_value = 1 / -distinct if distinct < 0 else rows / distinct if distinct > 0 else 1.0
        known = (now, rows >= HEAD_EDGE_ROWS and per_value >= HEAD_EDGE_TIES)
        _stats[engine][table] = known
    return known[1]


def limited_search(
    q: Select[Any],
    filter: str | None,
    order_by: list[str] | None,
    offset: int,
    limit: int,
    head_edge: Callable[[str], bool] = lambda table: True,
) -> Select[Any]:
    """``apply_search(q, ...)`` with OFFSET and LIMIT. A sort led by a required key reads its page
    through the head and edge described in the module docstring if ``head_edge(key's table name)``."""
    planned, sort, lead = _planned(q, filter, order_by)
    if lead is None or not head_edge(lead[2]):
        return planned.order_by(*_ordered(sort)).offset(offset).limit(limit)
    key, descending, _table = lead
    head = (
        planned.with_only_columns(key.label("k"), Run.id.label("id"))
        .order_by(key.desc() if descending else key.asc())
        .limit(offset + limit)
        .cte("search_head")
    )
    edge = select((func.min if descending else func.max)(head.c.k)).scalar_subquery()
    width = len(planned.selected_columns)
    cols = [*planned.selected_columns, *(expr.label(f"sort_{i}") for i, (expr, _d, _n) in enumerate(sort))]
    before_edge = planned.with_only_columns(*cols).where(
        Run.id.in_(select(head.c.id).where(head.c.k != edge))
    )
    at_edge = planned.with_only_columns(*cols).where(key == edge)
    both = union_all(before_edge, at_edge).subquery("search_page")
    out = list(both.c)
    order = [(out[width + i], descending, nullable) for i, (_e, descending, nullable) in enumerate(sort)]
    return select(*out[:width]).order_by(*_ordered(order)).offset(offset).limit(limit)


def _planned(
    q: Select[Any], filter: str | None, order_by: list[str] | None
) -> tuple[Select[Any], list[Sort], tuple[Any, bool, str] | None]:
    """``q`` with the filter's joins and WHERE; its sort items (ending in the tiebreak); and, when
    the first sort item is a key the filter requires (inner-joined, never NULL), that key's value
    column, direction and table name."""
    node = parse_filter(filter) if filter is not None and filter.strip() else None
    order = parse_order_by(order_by)
    plan = _Plan()
    rest = [plan.take(term) for term in _conjuncts(node)] if node is not None else []
    where = [compile_node(term) for term in rest if term is not None]
    sort = [plan.order(fld, descending) for fld, descending in order]
    for alias, on, outer in plan.joins.values():
        q = q.join(alias, on, isouter=outer)
    lead = None
    if order and order[0][0].kind != "attribute" and not sort[0][2]:
        lead = (sort[0][0], sort[0][1], KEY_MODELS[order[0][0].kind].__tablename__)
    return q.where(*plan.cond, *where), [*sort, *tiebreak_sort()], lead


def _ordered(sort: list[Sort]) -> list[ColumnElement[Any]]:
    return [sort_direction(*item) for item in sort]


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, BoolOp) and node.op == "AND":
        return [term for item in node.items for term in _conjuncts(item)]
    return [node]


def _required(c: Comparison) -> bool:
    """True when only a run with a (for metrics: non-NaN) row for the key can satisfy ``c``."""
    if c.field.kind in ("attribute", "dataset") or c.op == "IS NULL":
        return False
    return c.field.kind != "metric" or c.op != "IS NOT NULL"  # IS NOT NULL also matches NaN


@dataclass
class _Plan:
    joins: dict[Field, tuple[Any, ColumnElement[bool], bool]] = field(
        default_factory=dict
    )  # alias, ON, outer
    cond: list[ColumnElement[bool]] = field(default_factory=list)  # conditions on inner-joined rows

    def take(self, term: Node) -> Node | None:
        """Turn a required key comparison into a condition on its joined row; else hand it back."""
        if not isinstance(term, Comparison) or not _required(term):
            return term
        self.cond.append(compare(self.join(term.field, outer=False).value, term.op, term.value))
        return None

    def order(self, fld: Field, descending: bool) -> Sort:
        if fld.kind == "attribute":
            return attribute_sort(fld, descending)
        known = self.joins.get(fld)
        nullable = known is None or known[2]
        return self.join(fld, outer=True).value, descending, nullable

    def join(self, fld: Field, outer: bool) -> Any:
        """The key's row as a table alias (Core: much cheaper to build per request than ORM aliases)."""
        if fld not in self.joins:
            alias, by_run, not_nan = _alias(fld.kind, len(self.joins))
            on = [by_run, alias.c.key == fld.key, *not_nan]
            self.joins[fld] = (alias, and_(*on), outer)
        return self.joins[fld][0].c


_ALIASES: dict[tuple[str, int], tuple[Any, ColumnElement[bool], list[ColumnElement[bool]]]] = {}


def _alias(kind: str, slot: int) -> tuple[Any, ColumnElement[bool], list[ColumnElement[bool]]]:
    """The anonymous alias of a key table for the ``slot``-th join of a statement and the parts of its
    ON clause that do not depend on the key (the run; for metrics, a non-NaN value), made once: building
    them was about half of the statement's construction. A statement uses each slot at most once; the
    SQL names anonymous aliases when it is compiled, so reuse across statements (and threads: both are
    complete before they are shared) changes nothing."""
    made = _ALIASES.get((kind, slot))
    if made is None:
        alias = KEY_MODELS[kind].__table__.alias()
        not_nan = [alias.c.is_nan == false()] if kind == "metric" else []
        made = _ALIASES.setdefault((kind, slot), (alias, alias.c.run_id == Run.__table__.c.id, not_nan))
    return made
