"""A/B test events: a test of a model started, stopped (or one arm of it) or was decided."""

from __future__ import annotations

from typing import Any

from .registry import ModelEvent


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


class ABTestStarted(ABTestEvent):
    action = "abtest.started"
    webhook = "abtest.started"
    arms: list[dict[str, Any]]
    traffic: list[float]

    def details(self) -> dict[str, Any]:
        return {**super().details(), "arms": self.arms, "traffic": self.traffic}


class ABTestStopped(ABTestEvent):
    """The test (or one losing arm of it) stopped: the deployment should route that traffic back."""

    action = "abtest.stopped"
    webhook = "abtest.stopped"
    reason: str  # "manual" | "srm" | "treatment_worse" | "guardrail" | "decided"
    arm: str | None = None

    def details(self) -> dict[str, Any]:
        return {**super().details(), "reason": self.reason, "arm": self.arm}


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
