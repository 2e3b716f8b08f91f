from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas import page_of
from ..schemas.auth import UserCreateSchema, UserSchema, UserUpdateSchema
from ..services.identity import users as svc
from . import Blueprint

blp = Blueprint("users", __name__, description="Users and roles (admin only, except /users/me)")


@blp.route("/users", methods=["POST"])
@access("admin")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
def create(body: dict[str, Any]) -> Any:
    session, actor = context.db(), context.principal()
    token_name = body.pop("token_name")
    user = svc.create_user(session, actor, **body)
    out = UserSchema().dump(user)
    if token_name:
        out["token"] = svc.create_token(session, actor, user, token_name)[1]
    return out


@blp.route("/users", methods=["GET"])
@access("admin")
@blp.response(200, page_of(UserSchema))
def list_() -> Any:
    return {"items": svc.list_users(context.db()), "next_page_token": None}


@blp.route("/users/me", methods=["GET"])
@access("authenticated")
@blp.response(200, UserSchema)
def me() -> Any:
    return svc.get_user(context.db(), context.principal().id)


@blp.route("/users/<int:user_id>", methods=["GET"])
@access("admin")
@blp.response(200, UserSchema)
def get(user_id: int) -> Any:
    return svc.get_user(context.db(), user_id)


@blp.route("/users/<int:user_id>", methods=["PATCH"])
@access("admin")
@blp.arguments(UserUpdateSchema)
@blp.response(200, UserSchema)
def update(body: dict[str, Any], user_id: int) -> Any:
    session = context.db()
    return svc.update_user(session, context.principal(), svc.get_user(session, user_id), **body)
