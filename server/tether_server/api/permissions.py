from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..models import ALL_RESOURCES
from ..schemas import page_of
from ..schemas.auth import PermissionDeleteArgs, PermissionListArgs, PermissionSchema, PermissionSetSchema
from ..services.identity import permissions as svc
from . import Blueprint

blp = Blueprint("permissions", __name__, description="Per-resource grants (READ/EDIT/MANAGE)")


def _require_manage(resource_type: str, resource_id: str) -> None:
    if resource_id == ALL_RESOURCES:
        svc.ensure(context.principal().is_admin, "Only admins grant a level on every experiment or model")
        return
    svc.require(
        context.db(),
        context.principal(),
        resource_type,
        resource_id,
        "MANAGE",
        f"{resource_type.capitalize()} {resource_id}",
    )


@blp.route("/permissions", methods=["PUT"])
@access("writer")
@blp.arguments(PermissionSetSchema)
@blp.response(200, PermissionSchema)
def set_(body: dict[str, Any]) -> Any:
    """Grant or change a user's or a group's level on an experiment or model, by id or name (needs
    MANAGE on it), or on every experiment/model with resource_id "*" (admins only)."""
    level = body.pop("level")
    target = svc.resolve_target(context.db(), **body)
    _require_manage(target["resource_type"], target["resource_id"])
    return svc.set_grant(context.db(), context.principal(), **target, level=level)


@blp.route("/permissions", methods=["DELETE"])
@access("writer")
@blp.arguments(PermissionDeleteArgs, location="query")
@blp.response(204)
def delete(args: dict[str, Any]) -> None:
    target = svc.resolve_target(context.db(), **args)
    _require_manage(target["resource_type"], target["resource_id"])
    svc.revoke_grant(context.db(), context.principal(), **target)


@blp.route("/permissions", methods=["GET"])
@access("viewer")
@blp.arguments(PermissionListArgs, location="query")
@blp.response(200, page_of(PermissionSchema))
def list_(args: dict[str, Any]) -> Any:
    """Admins see all grants; others see their own, or all grants on a resource they MANAGE."""
    actor = context.principal()
    if not actor.is_admin:
        if args["resource_type"] and args["resource_id"]:
            _require_manage(args["resource_type"], args["resource_id"])
        else:
            args["user_id"] = actor.id
    return {"items": svc.list_grants(context.db(), **args), "next_page_token": None}
