"""Per-resource grants (READ < EDIT < MANAGE) and the SQL filters that enforce them.

A grant names a user or a group, and one resource or every resource of its type
(``resource_id == "*"``, admins only). Effective level on a resource = the highest of the user's
own grants and their groups' grants on it or on "*" (creators get MANAGE on create), or
``default_permission`` when none exists, capped by role (a viewer never writes). Admins have
MANAGE everywhere. Listing filters are SQL clauses, never post-filters.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    SQLColumnExpression,
    String,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from ...access import Principal
from ...errors import InvalidArgument, NotFound, PermissionDenied
from ...models import ALL_RESOURCES, LEVELS, RESOURCE_TYPES, Experiment, Group, GroupMember, Permission, User
from ...models.registry import RegisteredModel
from ..events import publish
from ..events import types as ev

LEVEL_RANK = {"NONE": 0, "READ": 1, "EDIT": 2, "MANAGE": 3}

# The level as its rank, so "the highest grant" is an ORDER BY (level strings sort E < M < R).
_RANK_SQL = case({lv: LEVEL_RANK[lv] for lv in LEVELS}, value=Permission.level, else_=0)


def _levels_at_least(level: str) -> list[str]:
    return [lv for lv in LEVELS if LEVEL_RANK[lv] >= LEVEL_RANK[level]]


def role_cap(principal: Principal) -> str:
    if principal.is_admin:
        return "MANAGE"
    return "MANAGE" if principal.can_write else "READ"


def grantee_clause(user_id: Any) -> ColumnElement[bool]:
    """Grants that reach the user: their own, and those of every group they belong to."""
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    return or_(Permission.user_id == user_id, Permission.group_id.in_(groups))


def grant_subquery(principal: Principal, resource_type: str, level: str):  # type: ignore[no-untyped-def]
    """Ids of single resources on which a grant reaching the principal gives at least ``level``."""
    return select(Permission.resource_id).where(
        grantee_clause(principal.id),
        Permission.resource_type == resource_type,
        Permission.level.in_(_levels_at_least(level)),
        Permission.resource_id != ALL_RESOURCES,
    )


@functools.cache
def _grant_sets(resource_type: str, level: str, int_ids: bool) -> tuple[TextualSelect, TextualSelect]:
    """(ids of single resources granted, any all-resources grant) for the user bound as ``:perm_uid``:
    the user's own grants UNION ALL their groups' grants, each branch driven by its unique index
    (``user_id, resource_type, resource_id`` / ``group_id, ...``) instead of an OR across the two
    columns. Fixed text built once per (type, level): only the user id is bound per request, so a
    listing pays no expression building for the permission filter (a group grant used to cost
    several SQLAlchemy constructs per query). ``resource_type`` and the levels are our constants."""
    if resource_type not in RESOURCE_TYPES:
        raise ValueError(resource_type)
    levels = ", ".join(f"'{lv}'" for lv in _levels_at_least(level))
    grants = (
        "SELECT {col} FROM permissions WHERE permissions.user_id = :perm_uid AND {cond} UNION ALL "
        "SELECT {col} FROM permissions JOIN group_members ON group_members.group_id = permissions.group_id "
        "WHERE group_members.user_id = :perm_uid AND {cond}"
    )
    cond = f"permissions.resource_type = '{resource_type}' AND permissions.level IN ({levels})"
    rid = "CAST(permissions.resource_id AS INTEGER)" if int_ids else "permissions.resource_id"
    some = text(grants.format(col=rid, cond=f"{cond} AND permissions.resource_id <> '{ALL_RESOURCES}'"))
    every = text(grants.format(col="1", cond=f"{cond} AND permissions.resource_id = '{ALL_RESOURCES}'"))
    return some.columns(column("rid")), every.columns(column("one"))


def filter_clause(
    principal: Principal,
    resource_type: str,
    id_column: SQLColumnExpression[Any],
    level: str = "READ",
    int_ids: bool = True,
) -> ColumnElement[bool]:
    """A WHERE clause limiting ``id_column`` to resources the principal holds ``level`` on: an
    uncorrelated EXISTS for an all-resources grant (evaluated once) or the id in the grant set."""
    if principal.is_admin:
        return true()
    if LEVEL_RANK[role_cap(principal)] < LEVEL_RANK[level]:
        return id_column.is_(None) & id_column.is_not(None)  # always false
    if LEVEL_RANK[principal.default_level] >= LEVEL_RANK[level]:
        return true()  # everyone holds this level by default; grants only ever add to it
    some, every = _grant_sets(resource_type, level, int_ids)
    uid = {"perm_uid": principal.id}
    return or_(exists(every.params(uid)), id_column.in_(some.params(uid)))


def _best_grant(user_id: Any, resource_type: str, resource_id: Any):  # type: ignore[no-untyped-def]
    return (
        select(Permission.level)
        .where(
            grantee_clause(user_id),
            Permission.resource_type == resource_type,
            or_(Permission.resource_id == resource_id, Permission.resource_id == ALL_RESOURCES),
        )
        .order_by(_RANK_SQL.desc())
        .limit(1)
    )


def bound_grant_level(resource_type: str, id_column: SQLColumnExpression[Any]) -> ScalarSelect[str]:
    """The highest grant reaching the user bound as ``:uid`` on the row's resource, as a scalar
    subquery, for statements built once and reused (check with ``effective_level`` + ``check_level``)."""
    return _best_grant(bindparam("uid"), resource_type, cast(id_column, String)).scalar_subquery()


def bound_level_at_least(
    resource_type: str, id_column: SQLColumnExpression[Any], level: str
) -> ColumnElement[bool]:
    """``effective_level`` >= ``level`` as SQL, for the non-admin user bound as ``:uid`` whose default
    level is bound as ``:default_level`` and whose role allows ``level`` (``role_allows``): the check
    folded into a write statement, so that checking and writing take one round trip."""
    granted = bound_grant_level(resource_type, id_column)
    # the levels as plain bound literals, not an expanding IN: no per-execution rewrite of the SQL
    levels = [literal(lv, String) for lv in _levels_at_least(level)]
    return func.coalesce(granted, bindparam("default_level")).in_(levels)


def role_allows(principal: Principal, level: str) -> bool:
    return LEVEL_RANK[role_cap(principal)] >= LEVEL_RANK[level]


def effective_level(principal: Principal, granted: str | None) -> str:
    """The grant (or the default), capped by role; MANAGE for admins."""
    if principal.is_admin:
        return "MANAGE"
    level = granted or principal.default_level
    cap = role_cap(principal)
    return level if LEVEL_RANK[level] <= LEVEL_RANK[cap] else cap


def check_level(have: str, level: str, resource_type: str, what: str) -> None:
    """Raise NotFound when the caller cannot even read, PermissionDenied when it reads but not more."""
    if LEVEL_RANK[have] >= LEVEL_RANK[level]:
        return
    if LEVEL_RANK[have] < LEVEL_RANK["READ"]:
        raise NotFound(f"{what} not found")
    raise PermissionDenied(f"{level} permission on this {resource_type} is required")


def level_on(session: Session, principal: Principal, resource_type: str, resource_id: str | int) -> str:
    if principal.is_admin:
        return "MANAGE"
    granted = session.scalar(_best_grant(principal.id, resource_type, str(resource_id)))
    return effective_level(principal, granted)


def require(
    session: Session, principal: Principal, resource_type: str, resource_id: str | int, level: str, what: str
) -> None:
    check_level(level_on(session, principal, resource_type, resource_id), level, resource_type, what)


def resolve_resource(
    session: Session,
    resource_type: str,
    resource_id: str | int | None = None,
    resource_name: str | None = None,
) -> str:
    """The stored resource id for an id, a name, or "*" (every resource of the type)."""
    if resource_type not in RESOURCE_TYPES:
        raise InvalidArgument(f"resource_type must be one of {list(RESOURCE_TYPES)}")
    if (resource_id is None) == (resource_name is None):
        raise InvalidArgument('Give exactly one of resource_id (or "*" for all) and resource_name')
    if resource_name is None:
        return str(resource_id)
    table = Experiment if resource_type == "experiment" else RegisteredModel
    found = session.scalar(select(table.id).where(table.name == resource_name))
    if found is None:
        raise NotFound(f"{resource_type.capitalize()} {resource_name!r} not found")
    return str(found)


def resolve_target(
    session: Session,
    *,
    resource_type: str,
    user_id: int | None = None,
    user: str | None = None,
    group_id: int | None = None,
    group: str | None = None,
    resource_id: str | None = None,
    resource_name: str | None = None,
) -> dict[str, Any]:
    """Grantee and resource given by id or by name -> ``user_id, group_id, resource_type, resource_id``."""
    from . import groups, users

    if sum(x is not None for x in (user_id, user, group_id, group)) != 1:
        raise InvalidArgument("Name exactly one grantee: user_id, user, group_id or group")
    if user is not None:
        user_id = users.get_user_by_name(session, user).id
    if group is not None:
        group_id = groups.get_group(session, group).id
    rid = resolve_resource(session, resource_type, resource_id, resource_name)
    return {"user_id": user_id, "group_id": group_id, "resource_type": resource_type, "resource_id": rid}


def _grantee(session: Session, user_id: int | None, group_id: int | None) -> tuple[Any, dict[str, Any]]:
    """(WHERE clause on Permission, audit details naming who receives the grant)."""
    if (user_id is None) == (group_id is None):
        raise InvalidArgument("Name exactly one grantee: a user or a group")
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found")
        return (Permission.user_id == user_id), {"user_id": user_id, "user": user.name}
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound(f"Group {group_id} not found")
    return (Permission.group_id == group_id), {"group_id": group_id, "group": group.name}


def _check_all(actor: Principal | None, resource_id: str) -> None:
    if resource_id == ALL_RESOURCES and actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins grant a level on every experiment or model")


def set_grant(
    session: Session,
    actor: Principal | None,
    user_id: int | None,
    resource_type: str,
    resource_id: str | int,
    level: str,
    *,
    group_id: int | None = None,
    quiet: bool = False,
) -> Permission:
    """Grant (or change) a user's or a group's level on one resource, or on "*" (admins only)."""
    if resource_type not in RESOURCE_TYPES:
        raise InvalidArgument(f"resource_type must be one of {list(RESOURCE_TYPES)}")
    if level not in LEVELS:
        raise InvalidArgument(f"level must be one of {list(LEVELS)}")
    _check_all(actor, str(resource_id))
    who, details = _grantee(session, user_id, group_id)
    where = (who, Permission.resource_type == resource_type, Permission.resource_id == str(resource_id))
    perm = session.scalar(select(Permission).where(*where))
    before = perm.level if perm else None
    if perm is None:
        perm = Permission(
            user_id=user_id,
            group_id=group_id,
            resource_type=resource_type,
            resource_id=str(resource_id),
            level=level,
        )
        session.add(perm)
    else:
        perm.level = level
    session.flush()
    if not quiet:
        publish(
            session,
            ev.PermissionGranted(
                actor=actor,
                on_type=resource_type,
                on_id=resource_id,
                grantee=details,
                before=before,
                level=level,
            ),
        )
    return perm


def revoke_grant(
    session: Session,
    actor: Principal,
    user_id: int | None,
    resource_type: str,
    resource_id: str | int,
    *,
    group_id: int | None = None,
) -> None:
    _check_all(actor, str(resource_id))
    who, details = _grantee(session, user_id, group_id)
    perm = session.scalar(
        select(Permission).where(
            who, Permission.resource_type == resource_type, Permission.resource_id == str(resource_id)
        )
    )
    if perm is None:
        raise NotFound("No such grant")
    session.delete(perm)
    session.flush()
    publish(
        session,
        ev.PermissionRevoked(
            actor=actor, on_type=resource_type, on_id=resource_id, grantee=details, before=perm.level
        ),
    )


def list_grants(
    session: Session,
    *,
    user_id: int | None = None,
    group_id: int | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> list[Permission]:
    q = select(Permission).order_by(Permission.id)
    if user_id is not None:
        q = q.where(Permission.user_id == user_id)
    if group_id is not None:
        q = q.where(Permission.group_id == group_id)
    if resource_type:
        q = q.where(Permission.resource_type == resource_type)
    if resource_id:
        q = q.where(Permission.resource_id == resource_id)
    return list(session.scalars(q))


def describe(session: Session, grants: list[Permission]) -> list[dict[str, Any]]:
    """Grants with the names of their grantee and resource, for people (CLI, admin page)."""
    users = dict(
        session.execute(select(User.id, User.name).where(User.id.in_({g.user_id for g in grants}))).all()
    )
    groups = dict(
        session.execute(select(Group.id, Group.name).where(Group.id.in_({g.group_id for g in grants}))).all()
    )
    names: dict[tuple[str, str], str] = {}
    for rtype, table in (("experiment", Experiment), ("model", RegisteredModel)):
        ids = {int(g.resource_id) for g in grants if g.resource_type == rtype and g.resource_id.isdigit()}
        for rid, name in session.execute(select(table.id, table.name).where(table.id.in_(ids))):
            names[(rtype, str(rid))] = name
    out = []
    for g in grants:
        if g.resource_id == ALL_RESOURCES:
            resource = f"all {g.resource_type}s"
        else:
            resource = names.get(
                (g.resource_type, g.resource_id), f"{g.resource_type} {g.resource_id} (deleted)"
            )
        if g.user_id is not None:
            grantee = f"user {users.get(g.user_id)}"
        else:
            assert g.group_id is not None  # the one_grantee CHECK: a grant names a user or a group
            grantee = f"group {groups.get(g.group_id)}"
        out.append({"grant": g, "grantee": grantee, "resource": resource})
    return out


def ensure(cond: bool, message: str) -> None:
    if not cond:
        raise PermissionDenied(message)
