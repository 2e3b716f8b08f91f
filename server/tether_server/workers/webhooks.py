"""Webhook delivery: drains the outbox that ``services.events.webhooks.emit`` fills."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from ..models import now_ms
from ..services.events import webhooks as svc
from .base import PollingWorker

if TYPE_CHECKING:
    from ..access import Principal
    from ..config import Settings
    from ..db import Database
    from ..models.registry import WebhookDelivery
    from ..runtime import Runtime


def attempt(
    database: Database, settings: Settings, delivery_id: int, *, retry: bool = True
) -> WebhookDelivery:
    """Send one delivery the caller has claimed and record the outcome: read, POST with no transaction
    open, then a short write transaction."""
    with database.transaction(write=False) as s:
        delivery, sub = svc.load(s, delivery_id)
    code, err = svc.send(delivery, sub, settings)
    with database.transaction() as s:
        return svc.record_attempt(s, delivery_id, code, err, settings, retry=retry)


def deliver_due(
    database: Database,
    settings: Settings,
    *,
    limit: int = 100,
    now: int | None = None,
    on_attempt: Callable[[bool], None] | None = None,
) -> int:
    """Claim and send due deliveries one at a time; returns the number of attempts made.
    ``on_attempt(delivered)`` is told each outcome (the runtime's metrics)."""
    done = 0
    while done < limit:
        with database.transaction() as s:
            claimed = svc.claim_due(s, now if now is not None else now_ms(), limit=1)
        if not claimed:
            break
        delivery = attempt(database, settings, claimed[0])
        if on_attempt is not None:
            on_attempt(delivery.status == "delivered")
        done += 1
    return done


def ping(database: Database, settings: Settings, actor: Principal, sub_id: int) -> WebhookDelivery:
    """Send a ``ping`` now (views call it outside the request transaction) and log it like any delivery."""
    with database.transaction() as s:
        delivery_id = svc.create_ping(s, actor, sub_id)
    return attempt(database, settings, delivery_id, retry=False)


class WebhookDeliveryWorker(PollingWorker):
    """Polls the outbox every ``TETHER_WEBHOOK_POLL_SECONDS`` and wakes at once after a commit that
    enqueued deliveries (``svc.OUTBOX_WRITTEN``). On when ``TETHER_WEBHOOK_WORKER`` is true."""

    name: ClassVar[str] = "webhooks"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        runtime.database.on_commit(svc.OUTBOX_WRITTEN, self.wake)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.webhook_worker

    @property
    def poll_seconds(self) -> float:
        return self.runtime.settings.webhook_poll_seconds

    def run_once(self, limit: int = 100) -> int:
        rt = self.runtime
        return deliver_due(rt.database, rt.settings, limit=limit, on_attempt=rt.metrics.webhook_attempt)
