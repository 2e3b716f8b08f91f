"""Groups of users (admins manage them); grants in /permissions may name a group."""

from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..errors import NotFound
from ..models import Group
from ..schemas import page_of
from ..schemas.groups import GroupCreateSchema, GroupSchema
from ..services.identity import groups as svc
from ..services.identity import users
from . import Blueprint

blp = Blueprint("groups", __name__, description="User groups; a grant to a group reaches every member")


def _out(group: Group) -> dict[str, Any]:
    members = svc.member_names(context.db(), [group.id])[group.id]
    return {**GroupSchema().dump(group), "members": members}


def _visible(ref: str) -> Group:
    """Admins see every group; other users only the groups they belong to (404 otherwise)."""
    session, actor = context.db(), context.principal()
    group = svc.get_group(session, ref)
    if not actor.is_admin and group.id not in {g.id for g in svc.list_groups(session, member_id=actor.id)}:
        raise NotFound(f"Group {ref[:100]!r} not found")
    return group


@blp.route("/groups", methods=["POST"])
@access("admin")
@blp.arguments(GroupCreateSchema)
@blp.response(201, GroupSchema)
def create(body: dict[str, Any]) -> Any:
    return _out(svc.create_group(context.db(), context.principal(), **body))


@blp.route("/groups", methods=["GET"])
@access("viewer")
@blp.response(200, page_of(GroupSchema))
def list_() -> Any:
    """Admins: every group. Others: the groups they belong to."""
    session, actor = context.db(), context.principal()
    found = svc.list_groups(session, member_id=None if actor.is_admin else actor.id)
    members = svc.member_names(session, [g.id for g in found])
    items = [{**GroupSchema().dump(g), "members": members[g.id]} for g in found]
    return {"items": items, "next_page_token": None}


@blp.route("/groups/<ref>", methods=["GET"])
@access("viewer")
@blp.response(200, GroupSchema)
def get(ref: str) -> Any:
    """A group by name or id."""
    return _out(_visible(ref))


@blp.route("/groups/<ref>", methods=["DELETE"])
@access("admin")
@blp.response(204)
def delete(ref: str) -> None:
    session = context.db()
    svc.delete_group(session, context.principal(), svc.get_group(session, ref))


@blp.route("/groups/<ref>/members/<user>", methods=["PUT"])
@access("admin")
@blp.response(200, GroupSchema)
def add_member(ref: str, user: str) -> Any:
    """Add a user (by name) to the group; adding a member twice changes nothing."""
    session = context.db()
    group = svc.get_group(session, ref)
    svc.add_member(session, context.principal(), group, users.get_user_by_name(session, user))
    return _out(group)


@blp.route("/groups/<ref>/members/<user>", methods=["DELETE"])
@access("admin")
@blp.response(204)
def remove_member(ref: str, user: str) -> None:
    session = context.db()
    group = svc.get_group(session, ref)
    svc.remove_member(session, context.principal(), group, users.get_user_by_name(session, user))
