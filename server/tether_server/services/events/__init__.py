"""Events: domain events and their one ``publish()``, the append-only audit trail, webhook
subscriptions with their durable outbox, the SSRF guard.

A domain change publishes one typed event in the caller's transaction::

    from tether_server.services.events import publish, types as ev
    publish(session, ev.StageChanged(actor=actor, request_id=http_request_id, model_id=m.id,
                                     model=m.name, version=3, from_stage="Staging",
                                     to_stage="Production", transition_id=12))

``publish`` appends the audit row and, for an event with a ``webhook`` name, one outbox row per
matching subscription; both commit or roll back with the change. Adding an event type is ONE
class in its domain's module of ``types/`` (re-exported by ``types/__init__.py``, whose
docstring says how): subclass ``Event`` (or ``ModelEvent``), set ``action`` (audit action),
optionally ``webhook`` (it then becomes a valid subscription event), declare its fields and override
``details()`` / ``data()``. ``after_commit(session, fn_or_signal)`` (from ``db``, re-exported) runs work once the transaction committed.

- ``publish``, ``Event``, ``types`` (every event type), ``after_commit``, ``WEBHOOK_EVENTS``
- ``audit.list_events``: the read side of the audit trail
- ``webhooks``: subscriptions (``create_subscription`` ...), claiming and signing deliveries (the
  delivery loop itself is ``workers.webhooks``), ``verify``;
  ``outbox.emit`` is called only by ``publish``
- ``ssrf``: the URL guard webhooks go through
"""

from ...db import after_commit
from . import audit, outbox, ssrf, types, webhooks
from .audit import list_events
from .base import WEBHOOK_EVENTS, Event
from .bus import publish
from .webhooks import (
    create_subscription,
    delete_subscription,
    get_subscription,
    list_deliveries,
    list_subscriptions,
    update_subscription,
    verify,
)

__all__ = [
    "WEBHOOK_EVENTS",
    "Event",
    "after_commit",
    "audit",
    "create_subscription",
    "delete_subscription",
    "get_subscription",
    "list_deliveries",
    "list_events",
    "list_subscriptions",
    "outbox",
    "publish",
    "ssrf",
    "types",
    "update_subscription",
    "verify",
    "webhooks",
]
