from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..errors import NotFound
from ..models import now_ms
from ..schemas import page_of
from ..schemas.auth import TokenCreateSchema, TokenListArgs, TokenSchema
from ..services.identity import users as svc
from . import Blueprint

blp = Blueprint("tokens", __name__, description="API tokens (users manage their own; admins all)")


def _own_or_admin(user_id: int) -> None:
    actor = context.principal()
    if not actor.is_admin and user_id != actor.id:
        raise NotFound("Token not found")


@blp.route("/tokens", methods=["POST"])
@access("authenticated")
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenSchema)
def create(body: dict[str, Any]) -> Any:
    session, actor = context.db(), context.principal()
    user_id = body["user_id"] if body["user_id"] is not None else actor.id
    _own_or_admin(user_id)
    expires = body["expires_at"]
    if body["expires_in_days"]:
        expires = now_ms() + body["expires_in_days"] * 86_400_000
    token, plain = svc.create_token(session, actor, svc.get_user(session, user_id), body["name"], expires)
    return {**TokenSchema().dump(token), "token": plain}


@blp.route("/tokens", methods=["GET"])
@access("authenticated")
@blp.arguments(TokenListArgs, location="query")
@blp.response(200, page_of(TokenSchema))
def list_(args: dict[str, Any]) -> Any:
    actor = context.principal()
    user_id = args["user_id"] if actor.is_admin else actor.id
    return {"items": svc.list_tokens(context.db(), user_id), "next_page_token": None}


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@access("authenticated")
@blp.response(200, TokenSchema)
def revoke(token_id: int) -> Any:
    session = context.db()
    token = svc.get_token(session, token_id)
    _own_or_admin(token.user_id)
    return svc.revoke_token(session, context.principal(), token)
