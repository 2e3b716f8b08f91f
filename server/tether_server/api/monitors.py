"""Production monitors: CRUD, the reference, data posts (windows, rows, labels), drift,
performance and the histogram for the UI. Data routes accept ``monitoring``-scoped tokens."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, g, request

from .. import context
from ..access import access, scoped
from ..errors import InvalidArgument
from ..jsonutil import dumps
from ..schemas.monitoring import (
    HistogramArgs,
    MonitorCreateSchema,
    MonitorListArgs,
    MonitorPageSchema,
    MonitorSchema,
    MonitorUpdateSchema,
    RangeArgs,
)
from ..services.monitoring import monitors as svc
from ..services.monitoring import references, results, windows
from ..services.tracking import idempotency
from . import Blueprint

blp = Blueprint("monitors", __name__, description="Production monitoring: drift, decay and their data")

_IDEMPOTENCY = [{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}]


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, mimetype="application/json")


def _body() -> dict[str, Any]:
    if "json_body" in g:  # parsed and checked by the bodyguard
        body = g.json_body
        if not isinstance(body, dict):
            raise InvalidArgument("Request body must be a JSON object")
        return body
    raw = request.get_data(cache=False)
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as e:
        raise InvalidArgument("Request body is not valid JSON", {"position": e.pos}) from None
    if not isinstance(body, dict):
        raise InvalidArgument("Request body must be a JSON object")
    return body


def _monitor(m: Any) -> dict[str, Any]:
    return svc.monitor_json(m, svc.model_name(context.db(), m))


@blp.route("/monitors", methods=["POST"])
@access("writer")
@blp.arguments(MonitorCreateSchema)
@blp.response(201, MonitorSchema)
def create(body: dict[str, Any]) -> Any:
    """Create a monitor on a model's stage or alias (EDIT on the model)."""
    m = svc.create_monitor(context.db(), context.principal(), body, context.request_id())
    return _json(_monitor(m), 201)


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
    return _json({"items": [_monitor(m) for m in items], "next_page_token": str(nxt) if nxt else None})


@blp.route("/monitors/<int:monitor_id>", methods=["GET"])
@access("viewer")
@blp.response(200, MonitorSchema)
def get(monitor_id: int) -> Any:
    return _json(_monitor(svc.get_monitor(context.db(), context.principal(), monitor_id)))


@blp.route("/monitors/<int:monitor_id>", methods=["PATCH"])
@access("writer")
@blp.arguments(MonitorUpdateSchema)
@blp.response(200, MonitorSchema)
def patch(body: dict[str, Any], monitor_id: int) -> Any:
    m = svc.update_monitor(context.db(), context.principal(), monitor_id, body, context.request_id())
    return _json(_monitor(m))


@blp.route("/monitors/<int:monitor_id>", methods=["DELETE"])
@access("writer")
def delete(monitor_id: int) -> Any:
    svc.delete_monitor(context.db(), context.principal(), monitor_id, context.request_id())
    return _json({"id": monitor_id, "deleted": True})


@blp.route("/monitors/<int:monitor_id>/reference", methods=["GET"])
@access("viewer")
@scoped("monitoring")
def reference(monitor_id: int) -> Any:
    """The profile producers bin on (follows the live version; a new reference_id when it changes)."""
    session = context.db()
    m = svc.get_monitor(session, context.principal(), monitor_id)
    return _json(references.reference_json(m, references.current_reference(session, m)))


def _commit_reference(monitor_id: int) -> None:
    """Record a changed reference in its own committed transaction first, so the 409 a stale post
    gets names a reference that exists (the post's own transaction rolls back)."""
    from ..errors import FailedPrecondition

    session = context.db()
    if windows.reference_in_force(session, context.principal(), monitor_id):
        return  # the usual case: nothing to record (the query's answer is kept for the post)
    context.release_db()  # nothing written yet; frees SQLite's write lock for the unit of work below
    with context.separate(write=True) as s:
        m = svc.get_monitor(s, context.principal(), monitor_id)
        try:
            references.current_reference(s, m)
        except FailedPrecondition:
            return  # the post answers it


def _idempotent(monitor_id: int, what: str, fn: Any) -> Response:
    if what == "windows":  # only a summary post can be stale (rows are binned on what is in force)
        _commit_reference(monitor_id)
    session, key = context.db(), request.headers.get("Idempotency-Key")
    scope = f"monitor:{monitor_id}:{what}"
    if key is not None:
        idempotency.check_key(key)
        prior = idempotency.lookup(session, key, scope)
        if prior is not None:
            resp = Response(prior.body, status=prior.status, mimetype="application/json")
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
    text = dumps(fn(session, context.principal(), monitor_id, _body())).decode()
    if key is not None:
        idempotency.remember(session, key, scope, context.principal().id, 200, text)
    return Response(text, status=200, mimetype="application/json")


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
    return _idempotent(monitor_id, "rows", windows.post_rows)


@blp.route("/monitors/<int:monitor_id>/labels", methods=["POST"])
@access("viewer")
@scoped("monitoring")
@blp.doc(parameters=_IDEMPOTENCY)
def post_labels(monitor_id: int) -> Any:
    """Ground truth: prediction-id joins, or a per-window performance summary."""
    return _idempotent(monitor_id, "labels", windows.post_labels)


@blp.route("/monitors/<int:monitor_id>/drift", methods=["GET"])
@access("viewer")
@blp.arguments(RangeArgs, location="query")
def drift(args: dict[str, Any], monitor_id: int) -> Any:
    return _json(results.drift(context.db(), context.principal(), monitor_id, args["from_"], args["to"]))


@blp.route("/monitors/<int:monitor_id>/performance", methods=["GET"])
@access("viewer")
@blp.arguments(RangeArgs, location="query")
def performance(args: dict[str, Any], monitor_id: int) -> Any:
    return _json(
        results.performance(context.db(), context.principal(), monitor_id, args["from_"], args["to"])
    )


@blp.route("/monitors/<int:monitor_id>/windows/<window_start>/histogram", methods=["GET"])
@access("viewer")
@blp.arguments(HistogramArgs, location="query")
def histogram(args: dict[str, Any], monitor_id: int, window_start: str) -> Any:
    """Reference vs window bucket shares of one column (window_start: epoch ms)."""
    if not window_start.isdigit() or len(window_start) > 15:
        raise InvalidArgument("window_start must be epoch milliseconds", {"field": "window_start"})
    ws = int(window_start)
    return _json(results.histogram(context.db(), context.principal(), monitor_id, ws, args["column"]))
