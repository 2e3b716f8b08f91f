"""Run search: the filter language (see search_filter) + permission filter, all in one SQL query.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, false, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument
from ...models import Experiment, Run
from .. import paging
from ..identity import permissions
from .search_filter import (
    KEY_MODELS,
    BoolOp,
    Comparison,
    Field,
    Node,
    attribute_order,
    compare,
    compile_node,
    parse_filter,
    parse_order_by,
    sort_direction,
    tiebreak,
)


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
    # The experiments the caller may read (and, for active runs, that are active): checked once per
    # experiment in a subquery, not once per run.
    visible = select(Experiment.id).where(permissions.filter_clause(actor, "experiment", Experiment.id))
    if lifecycle == "active":
        visible = visible.where(Experiment.lifecycle == "active")
    q = select(Run.__table__).where(Run.experiment_id.in_(visible))
    if experiment_ids:
        q = q.where(Run.experiment_id.in_(experiment_ids))
    if lifecycle != "all":
        q = q.where(Run.lifecycle == lifecycle)
    q = apply_search(q, filter, order_by).offset(offset).limit(max_results + 1)
    # PostgreSQL plans it with the actual values each time: the engine turns off server-side
    # prepared statements (see db.make_engine), whose generic plan cannot see key and value.
    rows = list(session.execute(q))
    return paging.trim(rows, max_results, scope, "o", lambda _r: offset + max_results)


def apply_search(q: Select[Any], filter: str | None, order_by: list[str] | None) -> Select[Any]:
    """Add the filter's WHERE (and key joins) and the ORDER BY (ending in the tiebreak) to a select
    over ``Run``. Same rows and order as ``compile_filter`` + ``compile_order_by``."""
    node = parse_filter(filter) if filter is not None and filter.strip() else None
    order = parse_order_by(order_by)
    plan = _Plan()
    rest = [plan.take(term) for term in _conjuncts(node)] if node is not None else []
    where = [compile_node(term) for term in rest if term is not None]
    sort = [plan.order(fld, descending) for fld, descending in order]
    for alias, on, outer in plan.joins.values():
        q = q.join(alias, on, isouter=outer)
    return q.where(*plan.cond, *where).order_by(*sort, *tiebreak())


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

    def order(self, fld: Field, descending: bool) -> ColumnElement[Any]:
        if fld.kind == "attribute":
            return attribute_order(fld, descending)
        known = self.joins.get(fld)
        nullable = known is None or known[2]
        return sort_direction(self.join(fld, outer=True).value, descending, nullable=nullable)

    def join(self, fld: Field, outer: bool) -> Any:
        """The key's row as a table alias (Core: much cheaper to build per request than ORM aliases)."""
        if fld not in self.joins:
            alias = KEY_MODELS[fld.kind].__table__.alias()
            on = [alias.c.run_id == Run.id, alias.c.key == fld.key]
            if fld.kind == "metric":
                on.append(alias.c.is_nan == false())
            self.joins[fld] = (alias, and_(*on), outer)
        return self.joins[fld][0].c
