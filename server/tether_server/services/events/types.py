"""Every domain event type, one frozen dataclass each (see ``bus.py`` for what ``publish`` does).

Adding an event type is one class here: subclass ``Event`` (or a domain base such as
``ModelEvent``), set ``action`` (audit action) and, if clients may subscribe to it, ``webhook``
(the public event name: it becomes a valid subscription event by being defined), declare the
fields, and override ``details()`` (audit row) and ``data()`` (webhook body) where they differ
from the base. Then ``events.publish(session, MyEvent(actor=..., ...))`` from the service.
Fields are plain values (ids, names, numbers), never ORM objects, so an event describes a change
as it was when it happened.

Transition ids are ``transition_id`` everywhere; ``request_id`` is only ever the HTTP request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Event

# ---------------------------------------------------------------- registry


@dataclass(frozen=True, kw_only=True)
class ModelEvent(Event):
    """A change to a registered model (audit rows carry the model's id and name)."""

    resource_type = "model"
    model_id: int
    model: str

    @property
    def resource_id(self) -> str | int:
        return self.model_id

    @property
    def model_name(self) -> str | None:
        return self.model


@dataclass(frozen=True, kw_only=True)
class ModelCreated(ModelEvent):
    action = "model.created"

    def to_value(self) -> str | None:
        return self.model


@dataclass(frozen=True, kw_only=True)
class ModelUpdated(ModelEvent):
    action = "model.updated"
    description_changed: bool
    tags: list[str]

    def details(self) -> dict[str, Any]:
        return {"description": self.description_changed, "tags": sorted(self.tags)}


@dataclass(frozen=True, kw_only=True)
class ModelDeleted(ModelEvent):
    action = "model.deleted"

    def from_value(self) -> str | None:
        return self.model


@dataclass(frozen=True, kw_only=True)
class ModelVersionCreated(ModelEvent):
    action = "model.version_created"
    webhook = "model_version.created"
    version: int
    run_id: str
    artifact_path: str
    files: int

    def to_value(self) -> str | None:
        return str(self.version)

    def details(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "run_id": self.run_id,
            "artifact_path": self.artifact_path,
            "files": self.files,
        }

    def data(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id, "stage": "None"}


@dataclass(frozen=True, kw_only=True)
class ModelVersionUpdated(ModelEvent):
    action = "model.version_updated"
    version: int

    def details(self) -> dict[str, Any]:
        return {"version": self.version}


@dataclass(frozen=True, kw_only=True)
class ModelVersionDeleted(ModelEvent):
    action = "model.version_deleted"
    version: int
    run_id: str | None

    def from_value(self) -> str | None:
        return str(self.version)

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id}


@dataclass(frozen=True, kw_only=True)
class TransitionEvent(ModelEvent):
    """Something happened to a reviewed transition (its id is ``transition_id``)."""

    transition_id: int
    version: int | None
    from_stage: str
    to_stage: str
    status: str
    requested_by: str

    def from_value(self) -> str | None:
        return self.from_stage

    def to_value(self) -> str | None:
        return self.to_stage

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "transition_id": self.transition_id}

    def data(self) -> dict[str, Any]:
        return {
            "transition_id": self.transition_id,
            "request_id": self.transition_id,  # the name before transition_id (kept for receivers)
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "status": self.status,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True, kw_only=True)
class TransitionRequested(TransitionEvent):
    action = "model.transition_requested"
    webhook = "transition.requested"
    required_approvals: int

    def details(self) -> dict[str, Any]:
        return {**super().details(), "required_approvals": self.required_approvals}


@dataclass(frozen=True, kw_only=True)
class TransitionApprovalAdded(TransitionEvent):
    action = "model.transition_approval_added"
    approvals: int
    required: int

    def details(self) -> dict[str, Any]:
        return {**super().details(), "approvals": self.approvals, "required": self.required}


@dataclass(frozen=True, kw_only=True)
class TransitionApproved(TransitionEvent):
    action = "model.transition_approved"
    webhook = "transition.approved"


@dataclass(frozen=True, kw_only=True)
class TransitionRejected(TransitionEvent):
    action = "model.transition_rejected"
    webhook = "transition.rejected"


@dataclass(frozen=True, kw_only=True)
class TransitionCancelled(TransitionEvent):
    action = "model.transition_cancelled"


@dataclass(frozen=True, kw_only=True)
class StageChanged(ModelEvent):
    action = "model.stage_changed"
    webhook = "stage.changed"
    version: int
    from_stage: str
    to_stage: str
    transition_id: int | None = None  # the reviewed transition that moved it, if any

    def from_value(self) -> str | None:
        return self.from_stage

    def to_value(self) -> str | None:
        return self.to_stage

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "transition_id": self.transition_id}

    def data(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "transition_id": self.transition_id,
            "request_id": self.transition_id,  # the name before transition_id (kept for receivers)
        }


@dataclass(frozen=True, kw_only=True)
class AliasChanged(ModelEvent):
    """An alias was set (``version``) or deleted (``version`` None)."""

    action = "model.alias_changed"
    webhook = "alias.changed"
    alias: str
    version: int | None
    previous_version: int | None

    def from_value(self) -> str | None:
        return None if self.previous_version is None else str(self.previous_version)

    def to_value(self) -> str | None:
        return None if self.version is None else str(self.version)

    def details(self) -> dict[str, Any]:
        return (
            {"alias": self.alias} if self.version is None else {"alias": self.alias, "version": self.version}
        )

    def data(self) -> dict[str, Any]:
        return {"alias": self.alias, "version": self.version, "previous_version": self.previous_version}


@dataclass(frozen=True, kw_only=True)
class PolicyChanged(Event):
    """A promotion policy changed: a model's (``model_id`` set) or the global one."""

    action = "model.policy_changed"
    model_id: int | None
    model: str | None
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def resource_type(self) -> str:  # type: ignore[override]
        return "model" if self.model_id is not None else "registry"

    @property
    def resource_id(self) -> str | int:
        return self.model_id if self.model_id is not None else "global"

    @property
    def model_name(self) -> str | None:
        return self.model

    def details(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after}


# ---------------------------------------------------------------- identity


@dataclass(frozen=True, kw_only=True)
class UserEvent(Event):
    resource_type = "user"
    user_id: int

    @property
    def resource_id(self) -> str | int:
        return self.user_id


@dataclass(frozen=True, kw_only=True)
class UserCreated(UserEvent):
    action = "user.created"
    name: str
    role: str

    def to_value(self) -> str | None:
        return self.role

    def details(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True, kw_only=True)
class UserRoleChanged(UserEvent):
    action = "user.role_changed"
    from_role: str
    to_role: str

    def from_value(self) -> str | None:
        return self.from_role

    def to_value(self) -> str | None:
        return self.to_role


@dataclass(frozen=True, kw_only=True)
class UserActivated(UserEvent):
    action = "user.activated"


@dataclass(frozen=True, kw_only=True)
class UserDeactivated(UserEvent):
    action = "user.deactivated"


@dataclass(frozen=True, kw_only=True)
class UserPasswordSet(UserEvent):
    action = "user.password_set"


@dataclass(frozen=True, kw_only=True)
class LoggedIn(UserEvent):
    action = "auth.login"
    ip: str

    def details(self) -> dict[str, Any]:
        return {"ip": self.ip}


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class TokenCreated(Event):
    action = "token.created"
    resource_type = "token"
    token_id: int
    user: str
    name: str
    expires_at: int | None

    @property
    def resource_id(self) -> str | int:
        return self.token_id

    def details(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "expires_at": self.expires_at}


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class PermissionGranted(GrantEvent):
    action = "permission.granted"
    before: str | None
    level: str

    def from_value(self) -> str | None:
        return self.before

    def to_value(self) -> str | None:
        return self.level


@dataclass(frozen=True, kw_only=True)
class PermissionRevoked(GrantEvent):
    action = "permission.revoked"
    before: str | None = None

    def from_value(self) -> str | None:
        return self.before


# ---------------------------------------------------------------- groups


@dataclass(frozen=True, kw_only=True)
class GroupEvent(Event):
    resource_type = "group"
    group_id: int
    group: str

    @property
    def resource_id(self) -> str | int:
        return self.group_id


@dataclass(frozen=True, kw_only=True)
class GroupCreated(GroupEvent):
    action = "group.created"

    def to_value(self) -> str | None:
        return self.group


@dataclass(frozen=True, kw_only=True)
class GroupDeleted(GroupEvent):
    action = "group.deleted"

    def from_value(self) -> str | None:
        return self.group


@dataclass(frozen=True, kw_only=True)
class GroupMemberAdded(GroupEvent):
    action = "group.member_added"
    user_id: int
    user: str

    def to_value(self) -> str | None:
        return self.user

    def details(self) -> dict[str, Any]:
        return {"group": self.group, "user": self.user, "user_id": self.user_id}


@dataclass(frozen=True, kw_only=True)
class GroupMemberRemoved(GroupMemberAdded):
    action = "group.member_removed"

    def to_value(self) -> str | None:
        return None

    def from_value(self) -> str | None:
        return self.user


# ---------------------------------------------------------------- webhook subscriptions


@dataclass(frozen=True, kw_only=True)
class WebhookEvent(Event):
    resource_type = "webhook"
    subscription_id: int

    @property
    def resource_id(self) -> str | int:
        return self.subscription_id


@dataclass(frozen=True, kw_only=True)
class WebhookCreated(WebhookEvent):
    action = "webhook.created"
    url: str
    events: list[str]
    model: str | None

    @property
    def model_name(self) -> str | None:
        return self.model

    def details(self) -> dict[str, Any]:
        return {"url": self.url, "events": self.events}


@dataclass(frozen=True, kw_only=True)
class WebhookUpdated(WebhookEvent):
    action = "webhook.updated"
    fields: list[str]

    def details(self) -> dict[str, Any]:
        return {"fields": self.fields}


@dataclass(frozen=True, kw_only=True)
class WebhookDeleted(WebhookEvent):
    action = "webhook.deleted"
    url: str

    def details(self) -> dict[str, Any]:
        return {"url": self.url}
