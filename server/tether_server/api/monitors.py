"""Production monitors: CRUD, the reference, data posts (windows, rows, labels), drift,
performance and the histogram for the UI. Data routes accept ``monitoring``-scoped tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, g, request

from .. import context
from .._lazy import lazy_module
from ..access import access, scoped
from ..errors import InvalidArgument
from ..jsonutil import dumps
from ..schemas.monitoring import (
    DriftArgs,
    HistogramArgs,
    MonitorCreateSchema,
    MonitorListArgs,
    MonitorPageSchema,
    MonitorSchema,
    MonitorUpdateSchema,
    RangeArgs,
)
from ..services.tracking import idempotency
from . import Blueprint, json_object_body, json_response

if TYPE_CHECKING:  # the area loads on first use (tether_server._lazy)
    from ..services.monitoring import labels, references, results, rows, windows
    from ..services.monitoring import monitors as svc
else:
    svc = lazy_module("tether_server.services.monitoring.monitors")
    references = lazy_module("tether_server.services.monitoring.references")
    results = lazy_module("tether_server.services.monitoring.results")
    windows = lazy_module("tether_server.services.monitoring.windows")
    rows = lazy_module("tether_server.services.monitoring.rows")
    labels = lazy_module("tether_server.services.monitoring.labels")

blp = Blueprint("monitors", __name__, description="Production monitoring: drift, decay and their data")

_IDEMPOTENCY = [{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}]


def _monitor(m: Any) -> dict[str, Any]:
    return svc.monitor_json(m, svc.model_name(context.db(), m))


@blp.route("/monitors", methods=["POST"])
@access("writer")
@blp.arguments(MonitorCreateSchema)
@blp.response(201, MonitorSchema)
def create(body: dict[str, Any]) -> Any:
    """Create a monitor on a model's stage or alias (EDIT on the model)."""
    m = svc.create_monitor(context.db(), context.principal(), body, context.request_id())
    return json_response(dumps(_monitor(m)), 201)


@blp.route("/monitors", methods=["GET"])
@access("viewer")
@blp.arguments(MonitorListArgs, location="query")
@blp.response(200, MonitorPageSchema)
def list_(args: dict[str, Any]) -> Any:
    items, nxt = svc.list_monitors(
        context.db(),
        context.principal(),
        model=args["model"],
        page_token=args["page_token"],
        max_results=args["max_results"],
    )
    return json_response(
        dumps({"items": [_monitor(m) for m in items], "next_page_token": str(nxt) if nxt else None})
    )


@blp.route("/monitors/<int:monitor_id>", methods=["GET"])
@access("viewer")
@blp.response(200, MonitorSchema)
def get(monitor_id: int) -> Any:
    return json_response(dumps(_monitor(svc.get_monitor(context.db(), context.principal(), monitor_id))))


@blp.route("/monitors/<int:monitor_id>", methods=["PATCH"])
@access("writer")
@blp.arguments(MonitorUpdateSchema)
@blp.response(200, MonitorSchema)
def patch(body: dict[str, Any], monitor_id: int) -> Any:
    m = svc.update_monitor(context.db(), context.principal(), monitor_id, body, context.request_id())
    return json_response(dumps(_monitor(m)))


@blp.route("/monitors/<int:monitor_id>", methods=["DELETE"])
@access("writer")
def delete(monitor_id: int) -> Any:
    svc.delete_monitor(context.db(), context.principal(), monitor_id, context.request_id())
    return json_response(dumps({"id": monitor_id, "deleted": True}))


@blp.route("/monitors/<int:monitor_id>/reference", methods=["GET"])
@access("viewer")
@scoped("monitoring")
def reference(monitor_id: int) -> Any:
    """The profile producers bin on (follows the live version; a new reference_id when it changes)."""
    session = context.db()
    m = svc.get_monitor(session, context.principal(), monitor_id)
    ref = references.recorded_reference(session, m)
    if ref is None:  # the live version changed
        return json_response(dumps(_record_reference(monitor_id)))
    return json_response(dumps(references.reference_json(m, ref)))


def _record_reference(monitor_id: int) -> dict[str, Any]:
    """Record the reference in force in a committed unit of work of its own and return its JSON.
    The request's transaction is ended first (nothing was written in it): SQLite cannot turn a read
    transaction into a write once another connection has committed, and a post's own transaction
    may roll back while the 409 it answers must name a reference that exists."""
    context.release_db()
    with context.separate(write=True) as s:
        m = svc.get_monitor(s, context.principal(), monitor_id)
        return references.reference_json(m, references.current_reference(s, m))


def _commit_reference(monitor_id: int) -> None:
    """Before a data post: record a changed reference first (see ``_record_reference``)."""
    from ..errors import FailedPrecondition

    if windows.reference_in_force(context.db(), context.principal(), monitor_id):
        return  # the usual case: nothing to record (the query's answer is kept for the post)
    try:
        _record_reference(monitor_id)
    except FailedPrecondition:
        return  # the post answers it


def _idempotent(monitor_id: int, what: str, fn: Any) -> Response:
    key = request.headers.get("Idempotency-Key")
    if what == "windows":  # only a summary post can be stale (rows are binned on what is in force)
        body = g.get("json_body")
        # the summary checked before any statement: SQLite holds its write lock from the first one
        pre = windows.precheck_summary(context.database(), body)
        if key is None and pre is not None:  # the usual post: ONE guarded statement, no session
            with context.statement() as unit:
                done = windows.post_window_guarded(unit, pre, context.principal(), monitor_id, body)
            if done is not None:
                return json_response(dumps(done).decode())
        windows.keep_precheck(context.db(), pre)
        _commit_reference(monitor_id)
    session = context.db()
    scope = f"monitor:{monitor_id}:{what}"
    if key is not None:
        idempotency.check_key(key)
        prior = idempotency.lookup(session, key, scope)
        if prior is not None:
            return json_response(prior.body, prior.status, replayed=True)
    text = dumps(fn(session, context.principal(), monitor_id, json_object_body())).decode()
    if key is not None:
        idempotency.remember(session, key, scope, context.principal().id, 200, text)
    return json_response(text)


@blp.route("/monitors/<int:monitor_id>/windows", methods=["POST"])
@access("viewer")
@scoped("monitoring")
@blp.doc(parameters=_IDEMPOTENCY)
def post_window(monitor_id: int) -> Any:
    """One source's tether.window/1 summary of one window (replaces that source's earlier post)."""
    return _idempotent(monitor_id, "windows", windows.post_window)


@blp.route("/monitors/<int:monitor_id>/rows", methods=["POST"])
@access("viewer")
@scoped("monitoring")
@blp.doc(parameters=_IDEMPOTENCY)
def post_rows(monitor_id: int) -> Any:
    """Raw rows (≤ 10,000), binned by the server into the windows of their timestamps."""
    return _idempotent(monitor_id, "rows", rows.post_rows)


@blp.route("/monitors/<int:monitor_id>/labels", methods=["POST"])
@access("viewer")
@scoped("monitoring")
@blp.doc(parameters=_IDEMPOTENCY)
def post_labels(monitor_id: int) -> Any:
    """Ground truth: prediction-id joins, or a per-window performance summary."""
    return _idempotent(monitor_id, "labels", labels.post_labels)


@blp.route("/monitors/<int:monitor_id>/drift", methods=["GET"])
@access("viewer")
@blp.arguments(DriftArgs, location="query")
def drift(args: dict[str, Any], monitor_id: int) -> Any:
    """Per window and column: every statistic (``view=full``), or the heatmap's cells (status,
    psi, n: ``view=cells``; the other statistics come with the cell's histogram)."""
    session, who = context.db(), context.principal()
    return json_response(
        dumps(results.drift(session, who, monitor_id, args["from_"], args["to"], args["view"]))
    )


@blp.route("/monitors/<int:monitor_id>/performance", methods=["GET"])
@access("viewer")
@blp.arguments(RangeArgs, location="query")
def performance(args: dict[str, Any], monitor_id: int) -> Any:
    return json_response(
        dumps(results.performance(context.db(), context.principal(), monitor_id, args["from_"], args["to"]))
    )


@blp.route("/monitors/<int:monitor_id>/windows/<window_start>/histogram", methods=["GET"])
@access("viewer")
@blp.arguments(HistogramArgs, location="query")
def histogram(args: dict[str, Any], monitor_id: int, window_start: str) -> Any:
    """Reference vs window bucket shares of one column (window_start: epoch ms)."""
    if not window_start.isdigit() or len(window_start) > 15:
        raise InvalidArgument("window_start must be epoch milliseconds", {"field": "window_start"})
    ws = int(window_start)
    return json_response(
        dumps(results.histogram(context.db(), context.principal(), monitor_id, ws, args["column"]))
    )
