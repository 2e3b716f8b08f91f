"""Monitoring events: monitors, alerts (shared with A/B tests) and retrain requests."""

from __future__ import annotations

from dataclasses import field
from typing import Any, ClassVar

from ..base import Event


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


class MonitorEvent(MonitoringEvent):
    monitor_id: int
    name: str
    changes: list[str] = field(default_factory=list)

    @property
    def resource_id(self) -> str | int:
        return self.monitor_id

    def details(self) -> dict[str, Any]:
        return {"monitor_id": self.monitor_id, "name": self.name, "changes": self.changes}


class MonitorCreated(MonitorEvent):
    action: ClassVar[str] = "monitor.created"


class MonitorUpdated(MonitorEvent):
    action: ClassVar[str] = "monitor.updated"


class MonitorDeleted(MonitorEvent):
    action: ClassVar[str] = "monitor.deleted"


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


class AlertOpened(AlertEvent):
    action: ClassVar[str] = "alert.opened"
    webhook: ClassVar[str | None] = "alert.opened"


class AlertAcknowledged(AlertEvent):
    action: ClassVar[str] = "alert.acknowledged"
    webhook: ClassVar[str | None] = "alert.acknowledged"


class AlertResolved(AlertEvent):
    action: ClassVar[str] = "alert.resolved"
    webhook: ClassVar[str | None] = "alert.resolved"


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
