"""Per-resource grants (READ < EDIT < MANAGE) and the SQL filters that enforce them.

Effective level on a resource = the user's grant (creators get MANAGE on create), or
the app's ``default_permission`` (carried by the principal) when no grant exists, capped by role (a viewer never writes).
Admins have MANAGE everywhere. Listing filters are SQL clauses, never post-filters.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, String, bindparam, cast, delete, select, true
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound, PermissionDenied
from ...models import LEVELS, RESOURCE_TYPES, Permission, User
from ..events import publish
from ..events import types as ev

LEVEL_RANK = {"NONE": 0, "READ": 1, "EDIT": 2, "MANAGE": 3}


def _levels_at_least(level: str) -> list[str]:
    return [lv for lv in LEVELS if LEVEL_RANK[lv] >= LEVEL_RANK[level]]


def role_cap(principal: Principal) -> str:
    if principal.is_admin:
        return "MANAGE"
    return "MANAGE" if principal.can_write else "READ"


def grant_subquery(principal: Principal, resource_type: str, level: str):  # type: ignore[no-untyped-def]
    return select(Permission.resource_id).where(
        Permission.user_id == principal.id,
        Permission.resource_type == resource_type,
        Permission.level.in_(_levels_at_least(level)),
    )


def filter_clause(
    principal: Principal,
    resource_type: str,
    id_column: ColumnElement,
    level: str = "READ",
    int_ids: bool = True,
) -> ColumnElement[bool]:
    """A WHERE clause limiting ``id_column`` to resources the principal holds ``level`` on."""
    if principal.is_admin:
        return true()
    if LEVEL_RANK[role_cap(principal)] < LEVEL_RANK[level]:
        return id_column.is_(None) & id_column.is_not(None)  # always false
    if LEVEL_RANK[principal.default_level] >= LEVEL_RANK[level]:
        # Everyone holds this level by default, except where an explicit lower grant exists.
        lower = select(Permission.resource_id).where(
            Permission.user_id == principal.id,
            Permission.resource_type == resource_type,
            Permission.level.in_([lv for lv in LEVELS if LEVEL_RANK[lv] < LEVEL_RANK[level]]),
        )
        sub = lower.with_only_columns(cast(Permission.resource_id, Integer)) if int_ids else lower
        return id_column.not_in(sub)
    sub = grant_subquery(principal, resource_type, level)
    if int_ids:
        sub = sub.with_only_columns(cast(Permission.resource_id, Integer))
    return id_column.in_(sub)


def bound_grant_level(resource_type: str, id_column: ColumnElement):  # type: ignore[no-untyped-def]
    """The grant of the user bound as ``:uid`` on the row's resource, as a scalar subquery, for
    statements built once and reused (check with ``effective_level`` + ``check_level``)."""
    return (
        select(Permission.level)
        .where(
            Permission.user_id == bindparam("uid"),
            Permission.resource_type == resource_type,
            Permission.resource_id == cast(id_column, String),
        )
        .scalar_subquery()
    )


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
    granted = session.scalar(
        select(Permission.level).where(
            Permission.user_id == principal.id,
            Permission.resource_type == resource_type,
            Permission.resource_id == str(resource_id),
        )
    )
    return effective_level(principal, granted)


def require(
    session: Session, principal: Principal, resource_type: str, resource_id: str | int, level: str, what: str
) -> None:
    check_level(level_on(session, principal, resource_type, resource_id), level, resource_type, what)


def set_grant(
    session: Session,
    actor: Principal | None,
    user_id: int,
    resource_type: str,
    resource_id: str | int,
    level: str,
    *,
    quiet: bool = False,
) -> Permission:
    if resource_type not in RESOURCE_TYPES:
        raise InvalidArgument(f"resource_type must be one of {list(RESOURCE_TYPES)}")
    if level not in LEVELS:
        raise InvalidArgument(f"level must be one of {list(LEVELS)}")
    if session.get(User, user_id) is None:
        raise NotFound(f"User {user_id} not found")
    perm = session.scalar(
        select(Permission).where(
            Permission.user_id == user_id,
            Permission.resource_type == resource_type,
            Permission.resource_id == str(resource_id),
        )
    )
    before = perm.level if perm else None
    if perm is None:
        perm = Permission(
            user_id=user_id, resource_type=resource_type, resource_id=str(resource_id), level=level
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
                user_id=user_id,
                before=before,
                level=level,
            ),
        )
    return perm


def revoke_grant(
    session: Session, actor: Principal, user_id: int, resource_type: str, resource_id: str | int
) -> None:
    res = session.execute(
        delete(Permission).where(
            Permission.user_id == user_id,
            Permission.resource_type == resource_type,
            Permission.resource_id == str(resource_id),
        )
    )
    if not res.rowcount:  # type: ignore[attr-defined]
        raise NotFound("No such grant")
    publish(
        session, ev.PermissionRevoked(actor=actor, on_type=resource_type, on_id=resource_id, user_id=user_id)
    )


def list_grants(
    session: Session,
    *,
    user_id: int | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> list[Permission]:
    q = select(Permission).order_by(Permission.id)
    if user_id is not None:
        q = q.where(Permission.user_id == user_id)
    if resource_type:
        q = q.where(Permission.resource_type == resource_type)
    if resource_id:
        q = q.where(Permission.resource_id == resource_id)
    return list(session.scalars(q))


def ensure(cond: bool, message: str) -> None:
    if not cond:
        raise PermissionDenied(message)
