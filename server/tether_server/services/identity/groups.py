"""User groups: admins create them and add or remove members; grants may name a group."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...models import Group, GroupMember, User
from ..events import publish
from ..events import types as ev
from .users import validate_name


def get_group(session: Session, ref: str | int) -> Group:
    """A group by name, or by id when ``ref`` is an int or all digits and no group has that name."""
    group = session.scalar(select(Group).where(Group.name == str(ref)))
    if group is None and str(ref).isdigit() and len(str(ref)) < 10:
        group = session.get(Group, int(ref))
    if group is None:
        raise NotFound(f"Group {str(ref)[:100]!r} not found")
    return group


def create_group(session: Session, actor: Principal | None, name: str, description: str = "") -> Group:
    try:
        validate_name(name)
    except InvalidArgument:
        raise InvalidArgument(
            "Group names are 1-100 characters of letters, digits and _ . - @", {"field": "name"}
        ) from None
    if len(description) > 500:
        raise InvalidArgument("description is at most 500 characters", {"field": "description"})
    if session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise AlreadyExists(f"Group {name!r} already exists")
    group = Group(name=name, description=description)
    session.add(group)
    session.flush()
    publish(session, ev.GroupCreated(actor=actor, group_id=group.id, group=name))
    return group


def delete_group(session: Session, actor: Principal | None, group: Group) -> None:
    """Delete a group; its memberships and grants go with it."""
    name, gid = group.name, group.id
    session.delete(group)
    session.flush()
    publish(session, ev.GroupDeleted(actor=actor, group_id=gid, group=name))


def add_member(session: Session, actor: Principal | None, group: Group, user: User) -> bool:
    """Add ``user`` to ``group``; False (and no audit row) when already a member."""
    if session.get(GroupMember, (group.id, user.id)) is not None:
        return False
    session.add(GroupMember(group_id=group.id, user_id=user.id))
    session.flush()
    publish(
        session,
        ev.GroupMemberAdded(
            actor=actor, group_id=group.id, group=group.name, user_id=user.id, user=user.name
        ),
    )
    return True


def remove_member(session: Session, actor: Principal | None, group: Group, user: User) -> None:
    res = session.execute(
        delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id == user.id)
    )
    if not res.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"User {user.name!r} is not in group {group.name!r}")
    publish(
        session,
        ev.GroupMemberRemoved(
            actor=actor, group_id=group.id, group=group.name, user_id=user.id, user=user.name
        ),
    )


def list_groups(session: Session, *, member_id: int | None = None) -> list[Group]:
    q = select(Group).order_by(Group.name)
    if member_id is not None:
        q = q.where(Group.id.in_(select(GroupMember.group_id).where(GroupMember.user_id == member_id)))
    return list(session.scalars(q))


def member_names(session: Session, group_ids: list[int]) -> dict[int, list[str]]:
    """Member names per group id, sorted."""
    out: dict[int, list[str]] = {gid: [] for gid in group_ids}
    rows = session.execute(
        select(GroupMember.group_id, User.name)
        .join(User, User.id == GroupMember.user_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(func.lower(User.name))
    )
    for gid, name in rows:
        out[gid].append(name)
    return out
