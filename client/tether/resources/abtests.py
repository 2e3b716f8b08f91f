"""``client.ab_tests``: A/B tests of model versions.

    test = client.ab_tests.create(model="churn", name="ctr", control="Production",
                                  treatments=["challenger"], traffic=[0.9, 0.1],
                                  metric="conversion", metric_type="proportion")
    test = client.ab_tests.get(test.id)
    arm = test.assign("user-42")            # local, no network: the documented tether-assign v1
    test.log_outcome("user-42", 1)          # buffered; sent in the background with an Idempotency-Key
    test.flush()
    res = test.results()                    # ABTestResults: per arm n, mean, effect, interval, ...

``assign`` answers the arm to serve (``Arm``: ``name``, ``version``): the assigned arm while the test
runs, the control once it stopped or that arm was stopped (lost or broke a guardrail), exactly what
``GET /ab-tests/{id}/assign`` answers. ``assigned_arm`` is the bucket alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._buffer import MetricBuffer
from ..abtest import Assigner
from ..types import Page
from ._base import Resource
from ._paging import Paginator

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["ABTests", "ABTest", "Arm", "ABTestResults", "ArmResult", "GuardrailResult", "SrmResult"]


@dataclass(frozen=True)
class Arm:
    name: str
    version: int | None
    kind: str = ""
    ref: str | int | None = None


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    direction: str
    margin: float
    violated: bool
    enough_data: bool
    effect: float | None
    lower: float | None
    upper: float | None
    explain: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GuardrailResult:
        return cls(d["metric"], d["direction"], float(d["margin"]), bool(d["violated"]), bool(d["enough_data"]),
                   d.get("effect"), d.get("lower"), d.get("upper"), d.get("explain", ""))  # fmt: skip


@dataclass(frozen=True)
class ArmResult:
    name: str
    version: int | None
    n: int
    mean: float | None
    planned_share: float
    observed_share: float | None
    effect: float | None = None  # treatment − control (None for the control)
    lower: float | None = None  # the always-valid interval at this look
    upper: float | None = None
    p_value: float | None = None
    state: str = "control"
    guardrails: list[GuardrailResult] = field(default_factory=list)
    explain: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmResult:
        return cls(
            d["name"], d.get("version"), int(d["n"]), d.get("mean"), float(d["planned_share"]),
            d.get("observed_share"), d.get("effect"), d.get("lower"), d.get("upper"), d.get("p_value"),
            d.get("state", "control"), [GuardrailResult.from_dict(g) for g in d.get("guardrails") or []],
            dict(d.get("explain") or {}),
        )  # fmt: skip


@dataclass(frozen=True)
class SrmResult:
    flagged: bool
    p_value: float
    observed_shares: list[float]
    planned_shares: list[float]
    explain: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SrmResult:
        return cls(bool(d["flagged"]), float(d["p_value"]), list(d["observed_shares"]), list(d["planned_shares"]),
                   d.get("explain", ""))  # fmt: skip


@dataclass(frozen=True)
class ABTestResults:
    id: int
    status: str
    state: str
    metric: str
    arms: list[ArmResult]
    srm: SrmResult
    transition_id: int | None
    recommendation: str
    explain: str
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ABTestResults:
        return cls(int(d["id"]), d["status"], d["state"], d["metric"], [ArmResult.from_dict(a) for a in d["arms"]],
                   SrmResult.from_dict(d["srm"]), d.get("transition_id"), d.get("recommendation", ""),
                   d.get("explain", ""), dict(d))  # fmt: skip


class ABTest:
    """One test: local assignment, buffered outcomes, results."""

    assign: Callable[[object], Arm]
    """``test.assign(unit)``: the arm to serve ``unit``, computed locally with the documented
    assignment (no network call; the test's state is as of the last refresh, and a treatment that
    lost serves the control). An attribute holding one closure, rebuilt on refresh, so a call is one
    hash and one lookup (at least a million per second on one core)."""

    def __init__(self, client: Client, data: Mapping[str, Any]) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._buffer: MetricBuffer | None = None
        self._refresh(data)

    def _refresh(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self.id: int = int(data["id"])
        self.name: str = data["name"]
        self.status: str = data["status"]
        self.state: str = data["state"]
        self.metric: str = data["metric"]
        self.traffic: list[float] = list(data["traffic"])
        self.arms = [Arm(a["name"], a.get("version"), a.get("kind", ""), a.get("ref")) for a in data["arms"]]
        self.transition_id: int | None = data.get("transition_id")
        stopped = set(data.get("stopped_arms") or ())
        self._live = [self.status == "running" and a.name not in stopped for a in self.arms]
        assigner = Assigner(self.id, self.traffic)
        self._arm_of = assigner.as_function()
        self.assign = assigner.mapper(
            [a if live else self.arms[0] for a, live in zip(self.arms, self._live, strict=True)]
        )

    def __repr__(self) -> str:
        return f"ABTest(id={self.id}, name={self.name!r}, status={self.status!r}, state={self.state!r})"

    # -------------------------------------------------------------- assignment (local)

    def assigned_arm(self, unit: object) -> Arm:
        return self.arms[self._arm_of(unit)]

    # -------------------------------------------------------------- outcomes (buffered)

    def _send(self, payload: Mapping[str, Any], key: str) -> Any:
        rows = [
            {"unit": p["key"], "value": p["value"], "metric": self._metrics[p["step"]]}
            for p in payload["metrics"]
        ]
        return self._client.request(
            "POST", f"/ab-tests/{self.id}/outcomes", json={"rows": rows}, idempotency_key=key
        )

    def log_outcome(self, unit: object, value: float, *, metric: str | None = None) -> None:
        """Queue one outcome of ``unit`` (summed per unit by the server; the server recomputes the arm)."""
        with self._lock:
            if self._buffer is None:
                self._metrics: list[str] = []
                self._buffer = MetricBuffer(
                    self._send, retry=self._client.retry, name=f"tether-abtest-{self.id}"
                )
            m = metric or self.metric
            if m not in self._metrics:
                self._metrics.append(m)
            step = self._metrics.index(m)
        self._buffer.put([(str(unit), float(value), step, 0)])

    def post_windows(self, windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Post per-arm window statistics (idempotent per arm/metric/window/source)."""
        return self._client.request(
            "POST", f"/ab-tests/{self.id}/outcomes", json={"windows": [dict(w) for w in windows]},
            idempotency_key=self._client.new_idempotency_key(),
        )  # fmt: skip

    def flush(self, timeout: float | None = None) -> None:
        if self._buffer is not None:
            self._buffer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._buffer is not None:
            self._buffer.close(timeout)

    # -------------------------------------------------------------- reads and changes

    def results(self) -> ABTestResults:
        return ABTestResults.from_dict(self._client.request("GET", f"/ab-tests/{self.id}/results"))

    def refresh(self) -> ABTest:
        self._refresh(self._client.request("GET", f"/ab-tests/{self.id}"))
        return self

    def stop(self) -> ABTest:
        self._refresh(self._client.request("PATCH", f"/ab-tests/{self.id}", json={"status": "stopped"}))
        return self

    def start(self) -> ABTest:
        self._refresh(self._client.request("PATCH", f"/ab-tests/{self.id}", json={"status": "running"}))
        return self


class ABTests(Resource):
    def create(
        self,
        *,
        model: str,
        name: str,
        treatments: Sequence[str | int],
        metric: str,
        metric_type: str,
        control: str = "Production",
        traffic: Sequence[float] | None = None,
        direction: str = "higher",
        guardrails: Sequence[Mapping[str, Any]] | None = None,
        alpha: float | None = None,
        min_units: int | None = None,
        min_events: int | None = None,
        tuning_n: int | None = None,
        draft: bool = False,
        description: str = "",
    ) -> ABTest:
        body: dict[str, Any] = {
            "model": model, "name": name, "control": control, "treatments": list(treatments),
            "metric": metric, "metric_type": metric_type, "direction": direction, "draft": draft,
            "description": description,
        }  # fmt: skip
        optional = {"traffic": list(traffic) if traffic is not None else None, "alpha": alpha,
                    "guardrails": [dict(g) for g in guardrails] if guardrails is not None else None,
                    "min_units": min_units, "min_events": min_events, "tuning_n": tuning_n}  # fmt: skip
        body.update({k: v for k, v in optional.items() if v is not None})
        return ABTest(self._client, self._client.request("POST", "/ab-tests", json=body))

    def get(self, test_id: int) -> ABTest:
        return ABTest(self._client, self._client.request("GET", f"/ab-tests/{int(test_id)}"))

    def list(self, *, model: str | None = None, status: str | None = None, page_size: int | None = None,
             limit: int | None = None) -> Paginator[ABTest]:  # fmt: skip
        def fetch(token: str | None) -> Page[ABTest]:
            params = {"model": model, "status": status, "max_results": page_size, "page_token": token}
            data = self._client.request("GET", "/ab-tests", params=params)
            return Page.from_dict(data, lambda d: ABTest(self._client, d))

        return Paginator(fetch, limit=limit)

    def results(self, test_id: int) -> ABTestResults:
        return ABTestResults.from_dict(self._client.request("GET", f"/ab-tests/{int(test_id)}/results"))
