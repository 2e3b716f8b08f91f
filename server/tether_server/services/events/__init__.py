"""Events: the append-only audit trail, webhook subscriptions with their durable outbox, the SSRF guard."""

from . import audit, ssrf, webhooks

__all__ = ["audit", "ssrf", "webhooks"]
