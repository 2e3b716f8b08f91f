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

from dataclasses import dataclass, field
from typing import Any, ClassVar

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
class ExplanationSet(ModelEvent):
    """A version's global explanation was set or replaced (``replaced``), or its local sample added."""

    action = "model.explanation_set"
    version: int
    stage: str
    method: str
    n_features: int
    replaced: bool
    part: str = "global"  # "global" | "local_sample"

    def to_value(self) -> str | None:
        return self.method

    def details(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stage": self.stage,
            "method": self.method,
            "n_features": self.n_features,
            "replaced": self.replaced,
            "part": self.part,
        }


@dataclass(frozen=True, kw_only=True)
class ModelCardUpdated(ModelEvent):
    """The person-written part of a version's model card (intended use, limitations) changed."""

    action = "model.card_updated"
    version: int
    fields: list[str]

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "fields": sorted(self.fields)}


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
    scopes: list[str] | None = None

    @property
    def resource_id(self) -> str | int:
        return self.token_id

    def details(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "expires_at": self.expires_at, "scopes": self.scopes}


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


# ---------------------------------------------------------------- monitoring (alerts are shared with A/B tests)


@dataclass(frozen=True, kw_only=True)
class MonitoringEvent(Event):
    """A monitoring change on a registered model. Changes made by the evaluator (no actor) are
    audited as ``tether-monitor``; the webhook body carries ``details()`` unless a type says otherwise."""

    resource_type: ClassVar[str] = "monitor"
    model: str

    def __post_init__(self) -> None:
        if self.actor is None and self.actor_name is None:
            object.__setattr__(self, "actor_name", "tether-monitor")

    @property
    def model_name(self) -> str | None:
        return self.model

    def data(self) -> dict[str, Any]:
        return self.details()


@dataclass(frozen=True, kw_only=True)
class MonitorEvent(MonitoringEvent):
    monitor_id: int
    name: str
    changes: list[str] = field(default_factory=list)

    @property
    def resource_id(self) -> str | int:
        return self.monitor_id

    def details(self) -> dict[str, Any]:
        return {"monitor_id": self.monitor_id, "name": self.name, "changes": self.changes}


@dataclass(frozen=True, kw_only=True)
class MonitorCreated(MonitorEvent):
    action: ClassVar[str] = "monitor.created"


@dataclass(frozen=True, kw_only=True)
class MonitorUpdated(MonitorEvent):
    action: ClassVar[str] = "monitor.updated"


@dataclass(frozen=True, kw_only=True)
class MonitorDeleted(MonitorEvent):
    action: ClassVar[str] = "monitor.deleted"


@dataclass(frozen=True, kw_only=True)
class AlertEvent(MonitoringEvent):
    resource_type: ClassVar[str] = "alert"
    alert: dict[str, Any]  # the alert as the API shows it, when the event happened

    @property
    def resource_id(self) -> str | int:
        return self.alert["id"]

    def details(self) -> dict[str, Any]:
        keys = ("id", "kind", "monitor_id", "ab_test_id", "rule", "column", "severity", "status", "message")
        return {k: self.alert.get(k) for k in keys} | {"first_window": self.alert.get("first_window")}

    def data(self) -> dict[str, Any]:
        return {"alert": self.alert}


@dataclass(frozen=True, kw_only=True)
class AlertOpened(AlertEvent):
    action: ClassVar[str] = "alert.opened"
    webhook: ClassVar[str | None] = "alert.opened"


@dataclass(frozen=True, kw_only=True)
class AlertAcknowledged(AlertEvent):
    action: ClassVar[str] = "alert.acknowledged"
    webhook: ClassVar[str | None] = "alert.acknowledged"


@dataclass(frozen=True, kw_only=True)
class AlertResolved(AlertEvent):
    action: ClassVar[str] = "alert.resolved"
    webhook: ClassVar[str | None] = "alert.resolved"


@dataclass(frozen=True, kw_only=True)
class RetrainRequested(MonitoringEvent):
    action: ClassVar[str] = "retrain.requested"
    webhook: ClassVar[str | None] = "retrain.requested"
    resource_type: ClassVar[str] = "monitor"
    version: int | None
    stage: str | None
    alias: str | None
    training_datasets: list[dict[str, Any]]
    monitor_id: int
    alert_id: int
    metric: dict[str, Any]

    @property
    def resource_id(self) -> str | int:
        return self.monitor_id

    def details(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "alias": self.alias,
            "training_datasets": self.training_datasets,
            "monitor_id": self.monitor_id,
            "alert_id": self.alert_id,
            "metric": self.metric,
        }


# ---------------------------------------------------------------- A/B tests


@dataclass(frozen=True, kw_only=True)
class ABTestEvent(ModelEvent):
    """Something happened to an A/B test of a model (its id is ``ab_test_id``)."""

    resource_type = "ab_test"
    ab_test_id: int
    name: str

    @property
    def resource_id(self) -> str | int:
        return self.ab_test_id

    def details(self) -> dict[str, Any]:
        return {"ab_test_id": self.ab_test_id, "name": self.name}

    def data(self) -> dict[str, Any]:
        return self.details()


@dataclass(frozen=True, kw_only=True)
class ABTestStarted(ABTestEvent):
    action = "abtest.started"
    webhook = "abtest.started"
    arms: list[dict[str, Any]]
    traffic: list[float]

    def details(self) -> dict[str, Any]:
        return {**super().details(), "arms": self.arms, "traffic": self.traffic}


@dataclass(frozen=True, kw_only=True)
class ABTestStopped(ABTestEvent):
    """The test (or one losing arm of it) stopped: the deployment should route that traffic back."""

    action = "abtest.stopped"
    webhook = "abtest.stopped"
    reason: str  # "manual" | "srm" | "treatment_worse" | "guardrail" | "decided"
    arm: str | None = None

    def details(self) -> dict[str, Any]:
        return {**super().details(), "reason": self.reason, "arm": self.arm}


@dataclass(frozen=True, kw_only=True)
class ABTestDecided(ABTestEvent):
    action = "abtest.decided"
    webhook = "abtest.decided"
    state: str
    arm: str | None
    version: int | None
    effect: float | None
    interval: list[float | None]
    transition_id: int | None = None
    recommendation: str = ""

    def to_value(self) -> str | None:
        return self.state

    def details(self) -> dict[str, Any]:
        return {
            **super().details(),
            "state": self.state,
            "arm": self.arm,
            "version": self.version,
            "effect": self.effect,
            "interval": self.interval,
            "transition_id": self.transition_id,
            "recommendation": self.recommendation,
        }
