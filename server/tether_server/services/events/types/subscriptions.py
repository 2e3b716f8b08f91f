"""Webhook subscription events: a subscription was created, updated or deleted."""

from __future__ import annotations

from typing import Any

from ..base import Event


class WebhookEvent(Event):
    resource_type = "webhook"
    subscription_id: int

    @property
    def resource_id(self) -> str | int:
        return self.subscription_id


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


class WebhookUpdated(WebhookEvent):
    action = "webhook.updated"
    fields: list[str]

    def details(self) -> dict[str, Any]:
        return {"fields": self.fields}


class WebhookDeleted(WebhookEvent):
    action = "webhook.deleted"
    url: str

    def details(self) -> dict[str, Any]:
        return {"url": self.url}
