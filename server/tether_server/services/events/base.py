"""The base of every domain event (``Event``).

Event types are in ``types/``; ``bus.publish`` records them. To run something once a transaction
has committed (purging a deleted version's files, waking the webhook delivery worker), use the one
post-commit hook, ``db.after_commit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...access import Principal

# Webhook event names in the order their classes were defined (subscriptions are validated against it).
WEBHOOK_EVENTS: list[str] = []


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event.

    A subclass sets ``action`` (the audit action, ``<domain>.<what happened>``), optionally
    ``webhook`` (the public webhook event name; subscribers can then receive it) and
    ``resource_type``, declares its fields, and overrides what differs from the defaults below.
    ``request_id`` is the HTTP request id (a string) that caused the change.
    """

    action: ClassVar[str]
    webhook: ClassVar[str | None] = None
    resource_type: ClassVar[str] = ""

    actor: Principal | None
    request_id: str = ""
    comment: str = ""
    actor_name: str | None = None  # overrides actor.name (a failed login has no principal)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        hook = cls.__dict__.get("webhook")
        if hook and hook not in WEBHOOK_EVENTS:
            WEBHOOK_EVENTS.append(hook)

    # -- the audit row
    @property
    def resource_id(self) -> str | int:
        return ""

    @property
    def model_name(self) -> str | None:
        return None

    def from_value(self) -> str | None:
        return None

    def to_value(self) -> str | None:
        return None

    def details(self) -> dict[str, Any]:
        return {}

    # -- the webhook body's ``data``
    def data(self) -> dict[str, Any]:
        return {}
