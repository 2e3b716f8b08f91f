"""Reviewed stage transitions (request → approve/reject, four eyes) and promotion policies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import context
from .._lazy import lazy_module
from ..access import access
from ..schemas.registry import (
    DecisionSchema,
    PolicySchema,
    PolicyUpdateSchema,
    TransitionCreateSchema,
    TransitionListArgs,
    TransitionRequestPageSchema,
    TransitionRequestSchema,
)
from ..services.registry import transitions as svc
from . import Blueprint

if TYPE_CHECKING:  # loaded on first use (tether_server._lazy): a request's explanation comparison
    from ..services.explain import explanations as explain
else:
    explain = lazy_module("tether_server.services.explain.explanations")

blp = Blueprint("transitions", __name__, description="Stage transition requests, approvals and policies")


def _one(req: Any) -> dict[str, Any]:
    return svc.describe(context.db(), [req])[0]


def _rid() -> str:
    return context.request_id()


@blp.route("/models/<name>/versions/<int:version>/transition-requests", methods=["POST"])
@access("writer")
@blp.arguments(TransitionCreateSchema)
@blp.response(201, TransitionRequestSchema)
def request_(body: dict[str, Any], name: str, version: int) -> Any:
    """Request a move; with 0 required approvals (default: every stage but Production) it applies at once."""
    return _one(
        svc.request_transition(
            context.db(),
            context.principal(),
            name,
            version,
            body["to_stage"],
            comment=body["comment"],
            archive_existing=body["archive_existing"],
            request_id=_rid(),
        )
    )


@blp.route("/transition-requests", methods=["GET"])
@access("viewer")
@blp.arguments(TransitionListArgs, location="query")
@blp.response(200, TransitionRequestPageSchema)
def list_(args: dict[str, Any]) -> Any:
    rows, nxt = svc.list_requests(context.db(), context.principal(), **args)
    return {"items": svc.describe(context.db(), rows), "next_page_token": nxt}


@blp.route("/transition-requests/<int:transition_id>", methods=["GET"])
@access("viewer")
@blp.response(200, TransitionRequestSchema)
def get(transition_id: int) -> Any:
    """One request, with ``explanation_comparison``: candidate vs the current Production version."""
    req = svc.get_request(context.db(), context.principal(), transition_id)
    return {**_one(req), "explanation_comparison": explain.comparison_for_request(context.db(), req)}


@blp.route("/transition-requests/<int:transition_id>/approve", methods=["POST"])
@access("reviewer")
@blp.arguments(DecisionSchema)
@blp.response(200, TransitionRequestSchema)
def approve(body: dict[str, Any], transition_id: int) -> Any:
    """Approve (not your own request). The approval that completes it moves the stage atomically."""
    return _one(
        svc.approve(
            context.db(), context.principal(), transition_id, body["comment"], request_id=_rid(), **_policy()
        )
    )


@blp.route("/transition-requests/<int:transition_id>/reject", methods=["POST"])
@access("reviewer")
@blp.arguments(DecisionSchema)
@blp.response(200, TransitionRequestSchema)
def reject(body: dict[str, Any], transition_id: int) -> Any:
    return _one(
        svc.reject(
            context.db(), context.principal(), transition_id, body["comment"], request_id=_rid(), **_policy()
        )
    )


def _policy() -> dict[str, bool]:
    return {"require_comment": context.settings().require_decision_comment}


@blp.route("/transition-requests/<int:transition_id>/cancel", methods=["POST"])
@access("writer")
@blp.arguments(DecisionSchema)
@blp.response(200, TransitionRequestSchema)
def cancel(body: dict[str, Any], transition_id: int) -> Any:
    """The requester (or a model manager) withdraws a pending request."""
    return _one(
        svc.cancel(context.db(), context.principal(), transition_id, body["comment"], request_id=_rid())
    )


@blp.route("/models/<name>/policy", methods=["GET"])
@access("viewer")
@blp.response(200, PolicySchema)
def get_model_policy(name: str) -> Any:
    return svc.get_policy(context.db(), context.principal(), name)


@blp.route("/models/<name>/policy", methods=["PUT"])
@access("writer")
@blp.arguments(PolicyUpdateSchema)
@blp.response(200, PolicySchema)
def set_model_policy(body: dict[str, Any], name: str) -> Any:
    """Per-model approvals per stage (needs MANAGE on the model)."""
    return svc.set_policy(context.db(), context.principal(), name, **body, request_id=_rid())


@blp.route("/registry/policy", methods=["GET"])
@access("viewer")
@blp.response(200, PolicySchema)
def get_global_policy() -> Any:
    return svc.get_policy(context.db(), context.principal(), None)


@blp.route("/registry/policy", methods=["PUT"])
@access("admin")
@blp.arguments(PolicyUpdateSchema)
@blp.response(200, PolicySchema)
def set_global_policy(body: dict[str, Any]) -> Any:
    return svc.set_policy(context.db(), context.principal(), None, **body, request_id=_rid())
