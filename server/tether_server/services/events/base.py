"""The base of every domain event (``Event``) and ``after_commit``.

Event types are in ``types.py``; ``bus.publish`` records them. ``after_commit(session, fn)`` is the
one way to run something once a transaction has committed (purging a deleted version's files,
waking the webhook delivery worker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

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


def after_commit(session: Session, fn: Callable[[], None], key: str | None = None) -> None:
    """Run ``fn`` once after the session's transaction commits (never after a rollback). With a
    ``key``, at most one such hook is pending per session."""
    if key is not None:
        if session.info.get(key):
            return
        session.info[key] = True

    def run(s: Session) -> None:
        if key is not None:
            s.info.pop(key, None)
        fn()

    sa_event.listen(session, "after_commit", run, once=True)
