"""Run search: the filter language (see search_filter) + permission filter, all in one SQL query."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import Principal
from ..errors import InvalidArgument
from ..models import Experiment, Run
from . import paging, permissions


def search_runs(session: Session, actor: Principal, *, experiment_ids: list[int] | None = None,
                filter: str | None = None, order_by: list[str] | None = None, max_results: int = 100,
                page_token: str | None = None, lifecycle: str = "active",
                max_cap: int = 1000) -> tuple[list[Run], str | None]:
    from .search_filter import compile_filter, compile_order_by

    if not 1 <= max_results <= max_cap:
        raise InvalidArgument(f"max_results must be between 1 and {max_cap}",
                              {"field": "max_results", "max": max_cap})
    scope = paging.scope_of("runs", experiment_ids, filter, order_by, lifecycle)
    token = paging.decode(page_token, scope)
    offset = int(token["o"]) if token else 0
    q = select(Run).where(permissions.filter_clause(actor, "experiment", Run.experiment_id))
    if experiment_ids:
        q = q.where(Run.experiment_id.in_(experiment_ids))
    if lifecycle != "all":
        q = q.where(Run.lifecycle == lifecycle)
        if lifecycle == "active":
            q = q.where(Run.experiment_id.in_(select(Experiment.id).where(Experiment.lifecycle == "active")))
    where = compile_filter(filter)
    if where is not None:
        q = q.where(where)
    q = q.order_by(*compile_order_by(order_by)).offset(offset).limit(max_results + 1)
    rows = list(session.scalars(q))
    nxt = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        nxt = paging.encode({"scope": scope, "o": offset + max_results})
    return rows, nxt
