"""Group events: groups and their members."""

from __future__ import annotations

from typing import Any

from ..base import Event


class GroupEvent(Event):
    resource_type = "group"
    group_id: int
    group: str

    @property
    def resource_id(self) -> str | int:
        return self.group_id


class GroupCreated(GroupEvent):
    action = "group.created"

    def to_value(self) -> str | None:
        return self.group


class GroupDeleted(GroupEvent):
    action = "group.deleted"

    def from_value(self) -> str | None:
        return self.group


class GroupMemberAdded(GroupEvent):
    action = "group.member_added"
    user_id: int
    user: str

    def to_value(self) -> str | None:
        return self.user

    def details(self) -> dict[str, Any]:
        return {"group": self.group, "user": self.user, "user_id": self.user_id}


class GroupMemberRemoved(GroupMemberAdded):
    action = "group.member_removed"

    def to_value(self) -> str | None:
        return None

    def from_value(self) -> str | None:
        return self.user
