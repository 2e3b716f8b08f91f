"""A/B tests (issue 12): create, list, get, start/stop, sticky assignment, outcomes, results.

Creating, changing and posting outcomes need EDIT on the model; reading needs READ. Bodies are
validated by the services (``services.abtests``), which answer 400 with the offending field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from .. import context
from .._lazy import lazy_module
from ..access import access
from ..errors import InvalidArgument
from ..jsonutil import dumps
from ..schemas import ListArgs
from ..schemas.monitoring import ABTestPageSchema, ABTestSchema
from ..services.tracking import idempotency
from . import Blueprint, json_object_body, json_response

if TYPE_CHECKING:  # the area loads on first use (tether_server._lazy)
    from ..services import abtests as svc
else:
    svc = lazy_module("tether_server.services.abtests")

blp = Blueprint(
    "abtests", __name__, description="A/B tests of model versions: assignment, outcomes, decisions"
)

_ID = {"type": "integer"}


class ABTestListArgs(ListArgs):
    from marshmallow import fields as _f

    model = _f.String(load_default=None)
    status = _f.String(load_default=None)


def _one(test: Any) -> Response:
    return json_response(dumps(svc.describe(context.db(), [test])[0]))


@blp.route("/ab-tests", methods=["POST"])
@access("writer")
@blp.doc(requestBody={"content": {"application/json": {"schema": {"type": "object"}}}})
@blp.response(201, ABTestSchema)
def create() -> Any:
    """Create a test (running at once unless ``draft``); needs EDIT on the model."""
    test = svc.create_test(
        context.db(), context.principal(), json_object_body(), request_id=context.request_id()
    )
    return json_response(dumps(svc.describe(context.db(), [test])[0]), 201)


@blp.route("/ab-tests", methods=["GET"])
@access("viewer")
@blp.arguments(ABTestListArgs, location="query")
@blp.response(200, ABTestPageSchema)
def list_(args: dict[str, Any]) -> Any:
    rows, nxt = svc.list_tests(context.db(), context.principal(), **args)
    return json_response(dumps({"items": svc.describe(context.db(), rows), "next_page_token": nxt}))


@blp.route("/ab-tests/<int:test_id>", methods=["GET"])
@access("viewer")
@blp.response(200, ABTestSchema)
def get(test_id: int) -> Any:
    return _one(svc.get_test(context.db(), context.principal(), test_id))


@blp.route("/ab-tests/<int:test_id>", methods=["PATCH"])
@access("writer")
@blp.doc(requestBody={"content": {"application/json": {"schema": {"type": "object"}}}})
@blp.response(200, ABTestSchema)
def update(test_id: int) -> Any:
    """``{"status": "running" | "stopped"}``: start a draft or stop a test."""
    body = json_object_body()
    if set(body) != {"status"}:
        raise InvalidArgument('PATCH takes {"status": "running" | "stopped"}', {"field": "status"})
    test = svc.update_status(context.db(), context.principal(), test_id, body["status"], context.request_id())
    context.runtime().abtests.invalidate(test_id)  # other processes see the new version stamp
    return _one(test)


@blp.route("/ab-tests/<int:test_id>/assign", methods=["GET"])
@access("viewer")
@blp.doc(parameters=[{"in": "query", "name": "unit", "required": True, "schema": {"type": "string"}}])
def assign(test_id: int) -> Any:
    """The arm and version to serve ``unit`` (the documented assignment the SDK computes locally)."""
    body = svc.serving.assign(context.db, context.runtime().abtests, context.principal(), test_id,
                              request.args.get("unit"))  # fmt: skip
    return json_response(body)


@blp.route("/ab-tests/<int:test_id>/outcomes", methods=["POST"])
@access("writer")
@blp.doc(
    requestBody={"content": {"application/json": {"schema": {"type": "object"}}}},
    parameters=[{"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}}],
)
def outcomes(test_id: int) -> Any:
    """``{"windows": [...]}`` (replaced per arm/metric/window/source) and/or ``{"rows": [...]}``
    (raw unit outcomes, summed per unit; send an Idempotency-Key to make retries safe)."""
    key = request.headers.get("Idempotency-Key")
    body = json_object_body()
    if key is None and set(body) == {"windows"}:  # one guarded upsert; PostgreSQL: autocommit
        done = svc.serving.post_windows(context.autocommit_db(), context.runtime().abtests,
                                        context.principal(), test_id, body["windows"])  # fmt: skip
        if done is not None:
            return json_response(dumps({"accepted": {"windows": done, "rows": 0}}))
    session = context.db()
    scope = f"abtest-outcomes:{test_id}"
    if key is not None:
        idempotency.check_key(key)
        prior = idempotency.lookup(session, key, scope)
        if prior is not None:
            return json_response(prior.body, prior.status, replayed=True)
    test = svc.get_test(session, context.principal(), test_id, "EDIT")
    context.runtime().abtests.put(test_id, svc.serving.build_entry(test))  # the next post is one statement
    text = dumps({"accepted": svc.post_outcomes(session, test, body)}).decode()
    if key is not None:
        idempotency.remember(session, key, scope, context.principal().id, 200, text)
    return json_response(text)


@blp.route("/ab-tests/<int:test_id>/results", methods=["GET"])
@access("viewer")
def results(test_id: int) -> Any:
    """Per arm n, mean, effect vs control with its always-valid interval, guardrails, SRM, state and
    a sentence per number. A look that reaches a new decision acts on it (in its own transaction)."""
    body = svc.serving.results(context.db(), context.runtime().abtests, context.principal(), test_id)
    if body is not None:
        return json_response(body)
    with context.separate(write=True) as unit_of_work:  # the decision commits on its own
        return json_response(dumps(svc.evaluate(unit_of_work, test_id)))
