"""Alerts (monitors and A/B tests): list, get, acknowledge, resolve (reviewers and up)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import context
from .._lazy import lazy_module
from ..access import access
from ..jsonutil import dumps
from ..schemas.monitoring import AlertDecisionSchema, AlertListArgs, AlertPageSchema, AlertSchema
from . import Blueprint, json_response

if TYPE_CHECKING:  # the area loads on first use (tether_server._lazy)
    from ..services.monitoring import alerts as svc
else:
    svc = lazy_module("tether_server.services.monitoring.alerts")

blp = Blueprint("alerts", __name__, description="Alerts from monitors and A/B tests")


@blp.route("/alerts", methods=["GET"])
@access("viewer")
@blp.arguments(AlertListArgs, location="query")
@blp.response(200, AlertPageSchema)
def list_(args: dict[str, Any]) -> Any:
    items, nxt = svc.list_alerts(
        context.db(),
        context.principal(),
        status=args["status"],
        monitor_id=args["monitor"],
        ab_test_id=args["ab_test"],
        model=args["model"],
        page_token=args["page_token"],
        max_results=args["max_results"],
    )
    return json_response(
        dumps({"items": [svc.alert_json(a) for a in items], "next_page_token": str(nxt) if nxt else None})
    )


@blp.route("/alerts/<int:alert_id>", methods=["GET"])
@access("viewer")
@blp.response(200, AlertSchema)
def get(alert_id: int) -> Any:
    return json_response(dumps(svc.alert_json(svc.get_alert(context.db(), context.principal(), alert_id))))


@blp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@access("reviewer")
@blp.arguments(AlertDecisionSchema)
@blp.response(200, AlertSchema)
def acknowledge(body: dict[str, Any], alert_id: int) -> Any:
    a = svc.acknowledge(context.db(), context.principal(), alert_id, body["comment"], context.request_id())
    return json_response(dumps(svc.alert_json(a)))


@blp.route("/alerts/<int:alert_id>/resolve", methods=["POST"])
@access("reviewer")
@blp.arguments(AlertDecisionSchema)
@blp.response(200, AlertSchema)
def resolve(body: dict[str, Any], alert_id: int) -> Any:
    a = svc.resolve(context.db(), context.principal(), alert_id, body["comment"], context.request_id())
    return json_response(dumps(svc.alert_json(a)))
