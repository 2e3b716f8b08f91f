"""Every domain event type, one frozen record class each (``base.FrozenRecord``), in one module per domain (see ``../bus.py``
for what ``publish`` does): ``registry`` (models, versions, transitions, aliases, policies),
``identity`` (users, logins, tokens, grants), ``groups``, ``subscriptions`` (webhook
subscriptions), ``monitoring`` (monitors, alerts, retrain requests) and ``abtests``.

Adding an event type is one class in its domain's module, re-exported here: subclass ``Event`` (or
a domain base such as ``ModelEvent``), set ``action`` (audit action) and, if clients may subscribe
to it, ``webhook`` (the public event name: it becomes a valid subscription event by being defined),
declare the fields, and override ``details()`` (audit row) and ``data()`` (webhook body) where they
differ from the base. Then ``events.publish(session, MyEvent(actor=..., ...))`` from the service.
Fields are plain values (ids, names, numbers), never ORM objects, so an event describes a change
as it was when it happened.

Transition ids are ``transition_id`` everywhere; ``request_id`` is only ever the HTTP request id.
"""

from ..base import Event

# Webhook event names are registered in class-definition order (``WEBHOOK_EVENTS``, which clients
# see), so the domain modules are imported in this order, not sorted; a new domain goes last.
# isort: off
from .registry import (
    ModelEvent,
    ModelCreated,
    ModelUpdated,
    ModelDeleted,
    ModelVersionCreated,
    ModelVersionUpdated,
    ModelVersionDeleted,
    TransitionEvent,
    TransitionRequested,
    TransitionApprovalAdded,
    TransitionApproved,
    TransitionRejected,
    TransitionCancelled,
    StageChanged,
    AliasChanged,
    ExplanationSet,
    ModelCardUpdated,
    PolicyChanged,
)
from .identity import (
    UserEvent,
    UserCreated,
    UserRoleChanged,
    UserActivated,
    UserDeactivated,
    UserPasswordSet,
    LoggedIn,
    LoginFailed,
    TokenCreated,
    TokenRevoked,
    GrantEvent,
    PermissionGranted,
    PermissionRevoked,
)
from .groups import (
    GroupEvent,
    GroupCreated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
)
from .subscriptions import (
    WebhookEvent,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
)
from .monitoring import (
    MonitoringEvent,
    MonitorEvent,
    MonitorCreated,
    MonitorUpdated,
    MonitorDeleted,
    AlertEvent,
    AlertOpened,
    AlertAcknowledged,
    AlertResolved,
    RetrainRequested,
)
from .abtests import (
    ABTestEvent,
    ABTestStarted,
    ABTestStopped,
    ABTestDecided,
)
# isort: on

__all__ = [
    "Event",
    "ModelEvent",
    "ModelCreated",
    "ModelUpdated",
    "ModelDeleted",
    "ModelVersionCreated",
    "ModelVersionUpdated",
    "ModelVersionDeleted",
    "TransitionEvent",
    "TransitionRequested",
    "TransitionApprovalAdded",
    "TransitionApproved",
    "TransitionRejected",
    "TransitionCancelled",
    "StageChanged",
    "AliasChanged",
    "ExplanationSet",
    "ModelCardUpdated",
    "PolicyChanged",
    "UserEvent",
    "UserCreated",
    "UserRoleChanged",
    "UserActivated",
    "UserDeactivated",
    "UserPasswordSet",
    "LoggedIn",
    "LoginFailed",
    "TokenCreated",
    "TokenRevoked",
    "GrantEvent",
    "PermissionGranted",
    "PermissionRevoked",
    "GroupEvent",
    "GroupCreated",
    "GroupDeleted",
    "GroupMemberAdded",
    "GroupMemberRemoved",
    "WebhookEvent",
    "WebhookCreated",
    "WebhookUpdated",
    "WebhookDeleted",
    "MonitoringEvent",
    "MonitorEvent",
    "MonitorCreated",
    "MonitorUpdated",
    "MonitorDeleted",
    "AlertEvent",
    "AlertOpened",
    "AlertAcknowledged",
    "AlertResolved",
    "RetrainRequested",
    "ABTestEvent",
    "ABTestStarted",
    "ABTestStopped",
    "ABTestDecided",
]
