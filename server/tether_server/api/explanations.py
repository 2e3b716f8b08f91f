"""Explanations of runs and model versions, the local-explanation sample, and model cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from .. import context
from .._lazy import lazy_module
from ..access import access
from ..jsonutil import dumps
from ..schemas.explain import (
    CardArgs,
    CardTextSchema,
    ExplanationBodySchema,
    ExplanationSchema,
    ModelCardTextSchema,
)
from ..services.explain.validate import parse_json
from . import Blueprint

if TYPE_CHECKING:  # loaded on first use (tether_server._lazy); the registry needs only ``records``
    from ..services.explain import card as cards
    from ..services.explain import card_md, local
    from ..services.explain import explanations as svc
else:
    cards = lazy_module("tether_server.services.explain.card")
    card_md = lazy_module("tether_server.services.explain.card_md")
    local = lazy_module("tether_server.services.explain.local")
    svc = lazy_module("tether_server.services.explain.explanations")

blp = Blueprint("explanations", __name__, description="Explanations (global, local sample) and model cards")

_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ExplanationBodySchema}}}
}
_PARQUET = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _body() -> Any:
    """The raw JSON body, parsed so that a feature named twice is visible (and refused)."""
    return parse_json(request.get_data(cache=True))


@blp.route("/runs/<run_id>/explanation", methods=["GET"])
@access("viewer")
@blp.response(200, ExplanationSchema)
def get_run(run_id: str) -> Any:
    return svc.get_run_explanation(context.db(), context.principal(), run_id)


@blp.route("/runs/<run_id>/explanation", methods=["PUT"])
@access("writer")
@blp.doc(**_BODY)
@blp.response(200, ExplanationSchema)
def put_run(run_id: str) -> Any:
    """Set or replace the run's global explanation; every version registered from the run gets a copy."""
    return svc.set_run_explanation(context.db(), context.principal(), run_id, _body())


@blp.route("/models/<name>/versions/<int:version>/explanation", methods=["GET"])
@access("viewer")
@blp.response(200, ExplanationSchema)
def get_version(name: str, version: int) -> Any:
    return svc.get_version_explanation(context.db(), context.principal(), name, version)


@blp.route("/models/<name>/versions/<int:version>/explanation", methods=["PUT"])
@access("writer")
@blp.doc(**_BODY)
@blp.response(200, ExplanationSchema)
def put_version(name: str, version: int) -> Any:
    """Set or replace while the version is not in Production; a Production version without one
    may get it once (409 afterwards). Audited."""
    return svc.set_version_explanation(
        context.db(), context.principal(), name, version, _body(), request_id=context.request_id()
    )


@blp.route("/models/<name>/versions/<int:version>/explanation/local", methods=["PUT"])
@access("writer")
@blp.doc(**_PARQUET)
@blp.response(200, ExplanationSchema)
def put_local(name: str, version: int) -> Any:
    """The local-explanation sample: a Parquet file in the documented layout, at most 1,000 rows."""
    request.max_content_length = local.MAX_BYTES
    data = request.get_data(cache=False)
    return local.set_local_sample(
        context.db(), context.principal(), context.store(), name, version, data, context.request_id()
    )


@blp.route("/models/<name>/versions/<int:version>/explanation/local", methods=["GET"])
@access("viewer")
def get_local(name: str, version: int) -> Response:
    key, size, sha = local.get_local_sample(context.db(), context.principal(), name, version)
    headers = {
        "Content-Length": str(size),
        "ETag": f'"{sha}"',
        "X-Content-SHA256": sha,
        "Content-Disposition": f'attachment; filename="{name}-v{version}-local-explanations.parquet"',
        "X-Content-Type-Options": "nosniff",
    }
    body = context.store().open(key)
    return Response(body, mimetype="application/vnd.apache.parquet", headers=headers, direct_passthrough=True)


@blp.route("/models/<name>/versions/<int:version>/card", methods=["GET"])
@access("viewer")
@blp.arguments(CardArgs, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "the model card",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }
    }
)
def get_card(args: dict[str, Any], name: str, version: int) -> Response:
    """The model card as JSON (``format=json``, default) or Markdown (``format=md``)."""
    card = cards.build_card(context.db(), context.principal(), name, version)
    if args["format"] == "md":
        return Response(
            card_md.to_markdown(card),
            mimetype="text/markdown",
            headers={"Content-Disposition": f'attachment; filename="{name}-v{version}-model-card.md"'},
        )
    return Response(dumps(card), mimetype="application/json")


@blp.route("/models/<name>/versions/<int:version>/card", methods=["PUT"])
@access("writer")
@blp.arguments(CardTextSchema)
@blp.response(200, ModelCardTextSchema)
def put_card(body: dict[str, Any], name: str, version: int) -> Any:
    """Edit the person-written part of the card (intended use, limitations); audited."""
    mv = cards.update_card(
        context.db(), context.principal(), name, version, **body, request_id=context.request_id()
    )
    return {
        "model": name,
        "version": version,
        "intended_use": mv.intended_use,
        "limitations": mv.limitations,
        "updated_at": mv.updated_at,
    }
