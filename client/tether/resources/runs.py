"""``client.runs``: create, get, update, delete, search, log_batch."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._encoding import encode_value
from ..explain._body import Importances, explanation_body
from ..types import BatchResult, Explanation, Page, Run
from ._base import Resource
from ._paging import Paginator

MAX_BATCH_METRICS = 10_000
MAX_SEARCH_PAGE = 1_000

MetricInput = Mapping[str, Any] | Sequence[Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def quote_segment(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def param_value(value: Any) -> str:
    """Params are strings on the server; ``str()`` like Python prints them (True, 0.1, None)."""
    return value if isinstance(value, str) else str(value)


def metric_wire(key: str, value: float, step: int, timestamp: int) -> dict[str, Any]:
    return {"key": key, "value": encode_value(value), "step": step, "timestamp": timestamp}


def to_metric_wire(m: MetricInput, default_ts: int) -> dict[str, Any]:
    """Accept ``{"key", "value", "step"?, "timestamp"?}`` or ``(key, value[, step[, timestamp]])``."""
    if isinstance(m, Mapping):
        key, value, step, ts = m["key"], m["value"], m.get("step"), m.get("timestamp")
    else:
        key, value, step, ts = (*m, None, None)[:4]
    return metric_wire(str(key), float(value), int(step or 0), int(ts if ts is not None else default_ts))


class Runs(Resource):
    def create(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Iterable[MetricInput] | None = None,
    ) -> Run:
        """Create a run; initial ``params`` and ``metrics`` (≤ 10,000) go in the same request and
        transaction, so a run is never half-created."""
        body: dict[str, Any] = {"experiment_id": int(experiment_id)}
        if params:
            body["params"] = {str(k): param_value(v) for k, v in params.items()}
        if metrics:
            ts = now_ms()
            body["metrics"] = [to_metric_wire(m, ts) for m in metrics]
        if name is not None:
            body["name"] = name
        if tags:
            body["tags"] = {str(k): param_value(v) for k, v in tags.items()}
        if parent_run_id is not None:
            body["parent_run_id"] = parent_run_id
        if start_time is not None:
            body["start_time"] = int(start_time)
        return Run.from_dict(self._client.request("POST", "/runs", json=body))

    def get_explanation(self, run_id: str) -> Explanation:
        """The run's global explanation (``NotFoundError`` if none was logged)."""
        return Explanation.from_dict(
            self._client.request("GET", f"/runs/{quote_segment(run_id)}/explanation")
        )

    def set_explanation(
        self,
        run_id: str,
        importances: Importances,
        *,
        method: str,
        dataset: Any = None,
        per_class: Mapping[str, Importances] | None = None,
    ) -> Explanation:
        """Set or replace the run's explanation; versions registered from the run carry a copy."""
        body = explanation_body(importances, method, dataset, per_class)
        path = f"/runs/{quote_segment(run_id)}/explanation"
        return Explanation.from_dict(self._client.request("PUT", path, json=body))

    def get(self, run_id: str) -> Run:
        return Run.from_dict(self._client.request("GET", f"/runs/{quote_segment(run_id)}"))

    def update(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None, name: str | None = None
    ) -> Run:
        body = {
            k: v for k, v in (("status", status), ("end_time", end_time), ("name", name)) if v is not None
        }
        return Run.from_dict(self._client.request("PATCH", f"/runs/{quote_segment(run_id)}", json=body))

    def finish(self, run_id: str, status: str = "FINISHED", *, end_time: int | None = None) -> Run:
        return self.update(run_id, status=status, end_time=end_time if end_time is not None else now_ms())

    def delete(self, run_id: str) -> Run:
        return Run.from_dict(self._client.request("DELETE", f"/runs/{quote_segment(run_id)}"))

    # ------------------------------------------------------------------ search

    def iter_search(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        experiment_ids: Iterable[int] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_size: int | None = None,
        lifecycle: str | None = None,
    ) -> Paginator[Run]:
        """Lazily page through matching runs. ``experiment`` takes names (resolved once, here);
        ``max_results`` caps the total (None: all); ``page_size`` is per request (≤ 1000)."""
        ids = self._experiment_ids(experiment, experiment_ids)
        size = page_size or min(max_results or MAX_SEARCH_PAGE, MAX_SEARCH_PAGE)

        def fetch(token: str | None) -> Page[Run]:
            body: dict[str, Any] = {"max_results": min(size, MAX_SEARCH_PAGE)}
            for k, v in (
                ("experiment_ids", ids),
                ("filter", filter),
                ("page_token", token),
                ("lifecycle", lifecycle),
            ):
                if v is not None:
                    body[k] = v
            if order_by:
                body["order_by"] = list(order_by)
            return Page.from_dict(self._client.request("POST", "/runs/search", json=body), Run.from_dict)

        return Paginator(fetch, limit=max_results)

    def search(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        experiment_ids: Iterable[int] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        lifecycle: str | None = None,
    ) -> list[Run]:
        """Up to ``max_results`` matching runs (following pages if needed)."""
        return self.iter_search(
            experiment,
            experiment_ids=experiment_ids,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            lifecycle=lifecycle,
        ).to_list()

    def _experiment_ids(
        self, experiment: str | Sequence[str] | None, experiment_ids: Iterable[int] | None
    ) -> list[int] | None:
        if experiment is None and experiment_ids is None:
            return None
        ids = [int(i) for i in experiment_ids or ()]
        names = [experiment] if isinstance(experiment, str) else list(experiment or ())
        ids += [self._client.experiments.get_by_name(n).id for n in names]
        return ids

    # ------------------------------------------------------------------ logging

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[MetricInput] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """Log params, metrics and tags; safe to retry (one Idempotency-Key per request).

        A call with ≤ 10,000 metrics is atomic. Larger lists are split into several requests (params
        and tags go with the first), each with its own key (``<key>-<n>`` when a key is given).
        """
        ts = now_ms()
        wire = [to_metric_wire(m, ts) for m in metrics or ()]
        body: dict[str, Any] = {}
        if params:
            body["params"] = {str(k): param_value(v) for k, v in params.items()}
        if tags:
            body["tags"] = {str(k): param_value(v) for k, v in tags.items()}
        chunks = [wire[i : i + MAX_BATCH_METRICS] for i in range(0, len(wire), MAX_BATCH_METRICS)] or [[]]
        total = BatchResult()
        for n, chunk in enumerate(chunks):
            key = idempotency_key or self._client.new_idempotency_key()
            if idempotency_key and len(chunks) > 1:
                key = f"{idempotency_key}-{n}"
            payload = {**(body if n == 0 else {}), "metrics": chunk}
            total += self.send_batch(run_id, payload, key)
        return total

    def send_batch(self, run_id: str, payload: Mapping[str, Any], idempotency_key: str) -> BatchResult:
        """POST an already-encoded batch body (used by the metric buffer)."""
        data = self._client.request(
            "POST", f"/runs/{quote_segment(run_id)}/batch", json=payload, idempotency_key=idempotency_key
        )
        return BatchResult.from_dict(data or {})


__all__ = ["Runs", "MAX_BATCH_METRICS"]
