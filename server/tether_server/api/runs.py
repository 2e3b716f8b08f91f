from __future__ import annotations

from typing import Any

from flask import request

from .. import context
from ..access import access
from ..db import after_commit
from ..jsonutil import dumps
from ..schemas.dump import Pair
from ..schemas.runs import (
    BatchResultSchema,
    BatchSchema,
    MetricPointSchema,
    RunCreateSchema,
    RunPageSchema,
    RunSchema,
    RunSearchSchema,
    RunUpdateSchema,
)
from ..services.tracking import idempotency, search
from ..services.tracking import runs as svc
from . import Blueprint, json_object_body, json_response

blp = Blueprint("runs", __name__, description="Runs, their params, tags and metrics")


def _with_details(run: Any) -> Pair:
    """What ``RunSchema`` dumps: the row with its params, tags and latest metrics (``pair_fields``)."""
    return Pair((run, svc.run_details(context.db(), [run])[run.id]))


@blp.route("/runs", methods=["POST"])
@access("writer")
@blp.arguments(RunCreateSchema())  # an instance: webargs would build a schema from a class per request
@blp.response(201, RunSchema)
def create(body: dict[str, Any]) -> Any:
    """Create a run, optionally with its first params and metrics (one request, one transaction)."""
    # PostgreSQL: the run and its first data are one atomic statement (the writer decides), so the
    # request needs no BEGIN/COMMIT round trips.
    writer = context.database().metric_writer
    session = context.autocommit_db() if writer.autocommit_points else context.db()
    # A new run holds exactly what it was created with: no need to read it back.
    return Pair(
        svc.create_run(session, context.principal(), **body, max_metrics=context.settings().max_batch_metrics)
    )


@blp.route("/runs/<run_id>", methods=["GET"])
@access("viewer")
@blp.response(200, RunSchema)
def get(run_id: str) -> Any:
    return _with_details(svc.get_run(context.db(), context.principal(), run_id))


@blp.route("/runs/<run_id>", methods=["PATCH"])
@access("writer")
@blp.arguments(RunUpdateSchema)
@blp.response(200, RunSchema)
def update(body: dict[str, Any], run_id: str) -> Any:
    return _with_details(svc.update_run(context.db(), context.principal(), run_id, **body))


@blp.route("/runs/<run_id>", methods=["DELETE"])
@access("writer")
@blp.response(200, RunSchema)
def delete(run_id: str) -> Any:
    return _with_details(svc.delete_run(context.db(), context.principal(), run_id))


@blp.route("/runs/<run_id>/restore", methods=["POST"])
@access("writer")
@blp.response(200, RunSchema)
def restore(run_id: str) -> Any:
    return _with_details(svc.restore_run(context.db(), context.principal(), run_id))


@blp.route("/runs/search", methods=["POST"])
@access("viewer")
@blp.arguments(RunSearchSchema())  # an instance (see create)
@blp.response(200, RunPageSchema)
def search_runs(body: dict[str, Any]) -> Any:
    session = context.read_db()  # a POST only for its body: reads never take the write lock
    runs, nxt = search.search_runs(
        session, context.principal(), max_cap=context.settings().max_search_results, **body
    )
    details = svc.run_details(session, runs)
    return {"items": [Pair((r, details[r.id])) for r in runs], "next_page_token": nxt}


@blp.route("/runs/<run_id>/batch", methods=["POST"])
@access("writer")
@blp.doc(
    requestBody={"required": True, "content": {"application/json": {"schema": BatchSchema}}},
    parameters=[{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}],
)
@blp.response(200, BatchResultSchema)
def log_batch(run_id: str) -> Any:
    """Log params, metrics (≤ 10,000) and tags atomically. A repeated Idempotency-Key replays.

    The body is loaded after the key lookup (a replay answers without reading it), with orjson."""
    session = context.db()
    key = request.headers.get("Idempotency-Key")
    scope = f"batch:{run_id}"
    if key is not None:
        idempotency.check_key(key)
        prior = idempotency.lookup(session, key, scope)
        if prior is not None:
            return json_response(prior.body, prior.status, replayed=True)
    body = _BATCH.load(json_object_body())
    result = _RESULT.dump(
        svc.log_batch(
            session, context.principal(), run_id, **body, max_metrics=context.settings().max_batch_metrics
        )
    )
    if key is not None:
        idempotency.remember(session, key, scope, context.principal().id, 200, dumps(result).decode())
    n, metrics = len(body.get("metrics") or ()), context.runtime().metrics
    after_commit(session, lambda: metrics.ingested(n, batches=1))
    return result


@blp.route("/runs/<run_id>/metrics", methods=["POST"])
@access("writer")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": MetricPointSchema}}})
@blp.response(200, BatchResultSchema)
def log_metric(run_id: str) -> Any:
    """Log one metric point (sugar over the batch route; the point is validated as in a batch)."""
    rows = svc.parse_metrics([json_object_body()], 1)
    with context.statement() as unit:  # PostgreSQL: one statement in autocommit; no ORM session
        result = svc.log_points(unit, context.principal(), run_id, rows)
    if result is None:
        return svc.points_refused(context.db(), context.principal(), run_id, rows)
    context.runtime().metrics.ingested(1)
    return result


_BATCH, _RESULT = BatchSchema(), BatchResultSchema()
