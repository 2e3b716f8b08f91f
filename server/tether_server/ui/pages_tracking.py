"""Tracking pages: experiments, the runs table (server-side filter, sort, paging), run detail, compare."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request, url_for

from .. import context
from ..access import access
from ..errors import InvalidArgument
from ..jsonutil import dumps, float_out
from ..services.artifacts import files as artifacts
from ..services.tracking import experiments, runs, search
from . import queries
from .common import page

PAGE_SIZES = (25, 50, 100, 200)
MAX_COMPARE = 100
MAX_COLUMNS = 30
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def _run_dict(run: Any, details: dict[str, Any]) -> dict[str, Any]:
    metrics = {k: {**m, "value": float_out(m["value"])} for k, m in details["metrics"].items()}
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "lifecycle": run.lifecycle,
        "experiment_id": run.experiment_id,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_run_id": run.parent_run_id,
        "params": details["params"],
        "tags": details["tags"],
        "metrics": metrics,
    }


@access("viewer")
def experiments_list() -> Any:
    rows, nxt = experiments.list_experiments(
        context.db(), context.principal(), max_results=100, page_token=request.args.get("page_token") or None
    )
    items = [
        {
            "id": e.id,
            "name": e.name,
            "description": e.description,
            "created_at": e.created_at,
            "tags": {t.key: t.value for t in e.tags},
        }
        for e in rows
    ]
    return page("experiments.html", {"items": items, "next_page_token": nxt})


# ---------------------------------------------------------------- runs table


def sort_field(column: str) -> str:
    """``metrics.train loss`` → ``metrics.`train loss``` (the search language's quoting)."""
    kind, _, key = column.partition(".")
    if kind in ("metrics", "params", "tags") and not _SIMPLE_KEY.match(key):
        return f"{kind}.`{key}`"
    return column


def _table_args() -> dict[str, Any]:
    size = request.args.get("size", type=int) or 50
    cols = [c for c in request.args.getlist("col") if c.partition(".")[0] in ("metrics", "params", "tags")]
    return {
        "filter": request.args.get("filter", "").strip(),
        "order": request.args.get("order", "").strip(),
        "page_token": request.args.get("page_token") or None,
        "cols": cols[:MAX_COLUMNS],
        "size": size if size in PAGE_SIZES else 50,
    }


def _order_by(order: str) -> list[str] | None:
    if not order:
        return None
    column, _, direction = order.rpartition(" ")
    if direction not in ("ASC", "DESC"):
        column, direction = order, "ASC"
    return [f"{sort_field(column)} {direction}"]


@access("viewer")
def runs_table(experiment_id: int) -> Any:
    s, me, args = context.db(), context.principal(), _table_args()
    exp = experiments.get_experiment(s, me, experiment_id)
    keys = queries.column_keys(s, me, experiment_id)
    if not args["cols"]:
        args["cols"] = [f"metrics.{k}" for k in keys["metrics"][:4]] + [
            f"params.{k}" for k in keys["params"][:3]
        ]
    error, rows, nxt = None, [], None
    children: dict[str, list[dict[str, Any]]] = {}
    try:
        # Without a filter the table pages through top-level runs and nests their children under
        # them; a filter matches child runs too, shown flat (each says whose child it is).
        found, nxt = search.search_runs(
            s,
            me,
            experiment_ids=[experiment_id],
            filter=args["filter"] or "parent_run_id IS NULL",
            order_by=_order_by(args["order"]),
            max_results=args["size"],
            page_token=args["page_token"],
        )
        kids = [] if args["filter"] else queries.children_of(s, me, experiment_id, [r.id for r in found])
        details = runs.run_details(s, found + kids)
        rows = [_run_dict(r, details[r.id]) for r in found]
        for k in kids:
            children.setdefault(k.parent_run_id or "", []).append(_run_dict(k, details[k.id]))
    except InvalidArgument as e:
        error = {"message": e.message, "details": e.details}
    data = {
        "experiment": {"id": exp.id, "name": exp.name, "description": exp.description},
        "filter": args["filter"],
        "order": args["order"],
        "columns": args["cols"],
        "available": keys,
        "items": rows,
        "children": children,
        "next_page_token": nxt,
        "error": error,
    }
    base = {
        "experiment_id": experiment_id,
        "filter": args["filter"] or None,
        "order": args["order"] or None,
        "col": args["cols"],
        "size": args["size"],
    }

    def link(**changes: Any) -> str:
        return url_for("ui_tracking.runs_table", **{**base, **changes})

    return page(
        "runs_table.html",
        data,
        400 if error else 200,
        size=args["size"],
        page_sizes=PAGE_SIZES,
        link=link,
        sort_field=sort_field,
    )


# ---------------------------------------------------------------- run detail


@access("viewer")
def run_detail(run_id: str) -> Any:
    s, me = context.db(), context.principal()
    run = runs.get_run(s, me, run_id)
    exp = experiments.get_experiment(s, me, run.experiment_id)
    children = queries.child_runs(s, me, run)
    arts, arts_next = artifacts.list_artifacts(s, me, run.id, "", 200, request.args.get("artifacts_token"))
    data = {
        "run": _run_dict(run, runs.run_details(s, [run])[run.id]),
        "experiment": {"id": exp.id, "name": exp.name},
        "parent": (
            {
                "id": run.parent_run_id,
                "name": queries.run_names(s, [run.parent_run_id]).get(run.parent_run_id, ""),
            }
            if run.parent_run_id
            else None
        ),
        "children": [{"id": c.id, "name": c.name, "status": c.status} for c in children],
        "artifacts": [
            {"path": a.path, "size": a.size, "sha256": a.sha256, "content_type": a.content_type} for a in arts
        ],
        "artifacts_next_page_token": arts_next,
        "datasets": queries.run_inputs(s, [run.id])[run.id],
    }
    return page("run_detail.html", data)


# ---------------------------------------------------------------- compare


def _compare_ids() -> list[str]:
    ids: list[str] = []
    for raw in request.args.getlist("run"):
        ids.extend(x for x in raw.split(",") if x)
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_COMPARE:
        raise InvalidArgument(
            f"Compare at most {MAX_COMPARE} runs at once", {"field": "run", "max": MAX_COMPARE}
        )
    return ids


@access("viewer")
def compare() -> Any:
    s, me = context.db(), context.principal()
    found = [runs.get_run(s, me, rid) for rid in _compare_ids()]
    details = runs.run_details(s, found)
    items = [_run_dict(r, details[r.id]) for r in found]
    keys = sorted({k for r in items for k in r["metrics"]})
    param_keys = sorted({k for r in items for k in r["params"]})
    chosen = [k for k in request.args.getlist("metric") if k in keys] or keys[:4]
    data = {
        "runs": items,
        "metric_keys": keys,
        "param_keys": param_keys,
        "charted": chosen,
        "history_url": "/api/v1/runs/{run_id}/metrics/{key}?max_points={max_points}",
    }
    return page("compare.html", data)


@access("viewer")
def compare_history() -> Any:
    """Batched twin of ``GET /api/v1/runs/<id>/metrics/<key>?max_points=`` for the compare charts."""
    max_points = request.args.get("max_points", type=int) or 500
    if not 2 <= max_points <= 5000:
        raise InvalidArgument("max_points must be between 2 and 5000", {"field": "max_points"})
    ids = _compare_ids()
    found = queries.histories(context.db(), context.principal(), ids, request.args.get("key", ""), max_points)
    items = {
        rid: {"steps": [p[0] for p in pts], "values": [float_out(p[1]) for p in pts]}
        for rid, pts in found.items()
    }
    return Response(dumps({"key": request.args.get("key"), "items": items}), mimetype="application/json")
