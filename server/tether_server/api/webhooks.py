"""Webhook subscriptions (admin), the delivery log and a test ping.

Receivers' response bodies are never stored or returned: the log keeps a status code and a short error
class. Deliveries are sent by the delivery worker (``workers.webhooks``), which ``create_app`` starts.
"""

from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas import ListArgs
from ..schemas.registry import (
    DeliveryPageSchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookPageSchema,
    WebhookSchema,
    WebhookUpdateSchema,
)
from ..services.events import webhooks as svc
from ..workers import webhooks as deliver
from . import Blueprint

blp = Blueprint("webhooks", __name__, description="Signed webhooks for registry events (admin)")


def _allowlist() -> str:
    return context.settings().webhook_allowlist


@blp.route("/webhooks", methods=["POST"])
@access("admin")
@blp.arguments(WebhookCreateSchema)
@blp.response(201, WebhookCreatedSchema)
def create(body: dict[str, Any]) -> Any:
    """Subscribe a URL. The secret (generated when omitted) is returned only here."""
    sub, secret = svc.create_subscription(
        context.db(),
        context.principal(),
        url=body["url"],
        events=body["events"],
        allowlist=_allowlist(),
        secret=body["secret"],
        model_name=body["model"],
        description=body["description"],
        active=body["active"],
    )
    return {**WebhookSchema().dump(sub), "secret": secret, "model_name": sub.model_name}


@blp.route("/webhooks", methods=["GET"])
@access("admin")
@blp.response(200, WebhookPageSchema)
def list_() -> Any:
    return {
        "items": [WebhookSchema().dump(s) for s in svc.list_subscriptions(context.db())],
        "next_page_token": None,
    }


@blp.route("/webhooks/<int:webhook_id>", methods=["GET"])
@access("admin")
@blp.response(200, WebhookSchema())
def get(webhook_id: int) -> Any:
    return svc.get_subscription(context.db(), webhook_id)


@blp.route("/webhooks/<int:webhook_id>", methods=["PATCH"])
@access("admin")
@blp.arguments(WebhookUpdateSchema)
@blp.response(200, WebhookSchema())
def update(body: dict[str, Any], webhook_id: int) -> Any:
    if "model" in body:
        body["model_name"] = body.pop("model")
    return svc.update_subscription(context.db(), context.principal(), webhook_id, _allowlist(), **body)


@blp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@access("admin")
@blp.response(204)
def delete(webhook_id: int) -> Any:
    svc.delete_subscription(context.db(), context.principal(), webhook_id)


@blp.route("/webhooks/<int:webhook_id>/deliveries", methods=["GET"])
@access("admin")
@blp.arguments(ListArgs, location="query")
@blp.response(200, DeliveryPageSchema)
def deliveries(args: dict[str, Any], webhook_id: int) -> Any:
    rows, nxt = svc.list_deliveries(context.db(), webhook_id, **args)
    return {"items": rows, "next_page_token": nxt}


@blp.route("/webhooks/<int:webhook_id>/ping", methods=["POST"])
@access("admin")
@blp.response(200, DeliverySchema)
def ping(webhook_id: int) -> Any:
    """Send a signed ``ping`` now and return the logged outcome (status code, error class; no body)."""
    return deliver.ping(context.database(), context.settings(), context.principal(), webhook_id)
