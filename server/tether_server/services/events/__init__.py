"""Events: domain events and their one ``publish()``, the append-only audit trail, webhook
subscriptions with their durable outbox, the SSRF guard.

A change publishes one typed event, ``publish(session, SomeEvent(actor=..., ...))``, which writes
the audit row and the webhook outbox rows in the caller's transaction. Adding an event type is one
dataclass in ``types.py`` (set ``action``, optionally ``webhook``; see that module's docstring).
"""

from . import audit, ssrf, types, webhooks
from .base import WEBHOOK_EVENTS, Event, after_commit
from .bus import publish

__all__ = ["WEBHOOK_EVENTS", "Event", "after_commit", "audit", "publish", "ssrf", "types", "webhooks"]
