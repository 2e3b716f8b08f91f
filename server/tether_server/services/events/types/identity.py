"""Identity events: users, logins, API tokens and permission grants."""

from __future__ import annotations

from typing import Any

from ..base import Event


class UserEvent(Event):
    resource_type = "user"
    user_id: int

    @property
    def resource_id(self) -> str | int:
        return self.user_id


class UserCreated(UserEvent):
    action = "user.created"
    name: str
    role: str

    def to_value(self) -> str | None:
        return self.role

    def details(self) -> dict[str, Any]:
        return {"name": self.name}


class UserRoleChanged(UserEvent):
    action = "user.role_changed"
    from_role: str
    to_role: str

    def from_value(self) -> str | None:
        return self.from_role

    def to_value(self) -> str | None:
        return self.to_role


class UserActivated(UserEvent):
    action = "user.activated"


class UserDeactivated(UserEvent):
    action = "user.deactivated"


class UserPasswordSet(UserEvent):
    action = "user.password_set"


class LoggedIn(UserEvent):
    action = "auth.login"
    ip: str

    def details(self) -> dict[str, Any]:
        return {"ip": self.ip}


class LoginFailed(Event):
    """A failed login (no principal: the audit row's actor is the name that was tried)."""

    action = "auth.login_failed"
    resource_type = "user"
    name: str
    ip: str

    @property
    def resource_id(self) -> str | int:
        return self.name

    def details(self) -> dict[str, Any]:
        return {"ip": self.ip}


class TokenCreated(Event):
    action = "token.created"
    resource_type = "token"
    token_id: int
    user: str
    name: str
    expires_at: int | None
    scopes: list[str] | None = None

    @property
    def resource_id(self) -> str | int:
        return self.token_id

    def details(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "expires_at": self.expires_at, "scopes": self.scopes}


class TokenRevoked(Event):
    action = "token.revoked"
    resource_type = "token"
    token_id: int
    name: str
    user_id: int

    @property
    def resource_id(self) -> str | int:
        return self.token_id

    def details(self) -> dict[str, Any]:
        return {"name": self.name, "user_id": self.user_id}


class GrantEvent(Event):
    """A grant on one resource (its type is the audit row's resource type)."""

    on_type: str
    on_id: str | int
    grantee: dict[str, Any]  # who receives it: {"user_id", "user"} or {"group_id", "group"}

    @property
    def resource_type(self) -> str:  # type: ignore[override]
        return self.on_type

    @property
    def resource_id(self) -> str | int:
        return self.on_id

    def details(self) -> dict[str, Any]:
        return dict(self.grantee)


class PermissionGranted(GrantEvent):
    action = "permission.granted"
    before: str | None
    level: str

    def from_value(self) -> str | None:
        return self.before

    def to_value(self) -> str | None:
        return self.level


class PermissionRevoked(GrantEvent):
    action = "permission.revoked"
    before: str | None = None

    def from_value(self) -> str | None:
        return self.before
