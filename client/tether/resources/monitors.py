"""``client.monitors`` and ``client.alerts``: production monitoring (issue 11's REST contract).

    info = client.monitors.create("churn-prod", model="churn", stage="production", metric="auc")
    ref = client.monitors.reference(info.id)          # MonitorReference: the bins to summarise on
    m = client.monitors.open(info.id)                 # tether.Monitor: m.log(frame), m.log_labels(...)
    for a in client.alerts.list(status="open", monitor=info.id):
        client.alerts.acknowledge(a.id, comment="looking")

The data routes (``post_window``, ``post_rows``, ``post_labels``) are what ``tether.Monitor`` sends in
the background; they are public for producers that summarise elsewhere (Spark, DuckDB, a stream job)
and post the merged window themselves.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..types import Alert, Monitor, MonitorReference, Page
from ._base import Resource
from ._paging import Paginator

if TYPE_CHECKING:
    from .._monitor import Monitor as MonitorHandle

__all__ = ["Monitors", "Alerts", "MAX_ROWS_PER_POST"]

MAX_ROWS_PER_POST = 10_000
_SETTINGS = (
    "reference",
    "columns",
    "prediction_column",
    "label_column",
    "metric",
    "baseline_metric",
    "window_seconds",
    "grace_seconds",
    "thresholds",
    "retrain_on_decay",
    "prediction_retention_days",
)


def _target(stage: str | None, alias: str | None) -> dict[str, str]:
    if (stage is None) == (alias is None):
        raise ValueError("give exactly one of stage= or alias=")
    return {"stage": stage} if stage is not None else {"alias": alias}  # type: ignore[dict-item]


class Monitors(Resource):
    # ---------------------------------------------------------------- settings

    def create(
        self, name: str, *, model: str, stage: str | None = None, alias: str | None = None, **settings: Any
    ) -> Monitor:
        """Create a monitor on ``model``'s ``stage`` (or ``alias``). ``settings``: ``reference``
        (``{"dataset_version_id": id}``), ``columns``, ``prediction_column``, ``label_column``,
        ``metric``, ``baseline_metric``, ``window_seconds``, ``grace_seconds``, ``thresholds``,
        ``retrain_on_decay``, ``prediction_retention_days``."""
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise TypeError(f"unknown monitor settings: {', '.join(unknown)}")
        body = {"name": name, "model": model, **_target(stage, alias), **settings}
        return Monitor.from_dict(self._client.request("POST", "/monitors", json=body))

    def get(self, monitor_id: int) -> Monitor:
        return Monitor.from_dict(self._client.request("GET", f"/monitors/{int(monitor_id)}"))

    def list(
        self, *, model: str | None = None, page_size: int | None = None, limit: int | None = None
    ) -> Paginator[Monitor]:
        def fetch(token: str | None) -> Page[Monitor]:
            params = {"model": model, "max_results": page_size, "page_token": token}
            return Page.from_dict(self._client.request("GET", "/monitors", params=params), Monitor.from_dict)

        return Paginator(fetch, limit=limit)

    def find(
        self, model: str, *, stage: str | None = None, alias: str | None = None, name: str | None = None
    ) -> Monitor:
        """The monitor of ``model`` that follows ``stage`` (or ``alias``), by ``name`` when there are
        several. Stages compare case-insensitively. Raises ``NotFoundError`` when there is none and
        ``ValueError`` when several match and no ``name`` was given."""
        target = _target(stage, alias)
        key, want = next(iter(target.items()))
        found = [
            m
            for m in self.list(model=model)
            if (getattr(m, key) or "").lower() == want.lower() and (name is None or m.name == name)
        ]
        if not found:
            raise NotFoundError(
                404, "NOT_FOUND", f"no monitor on model {model!r} with {key} {want!r}", {"model": model}
            )
        if len(found) > 1:
            names = ", ".join(sorted(m.name for m in found))
            raise ValueError(f"several monitors follow {model} {key} {want!r} ({names}): pass name=")
        return found[0]

    def update(self, monitor_id: int, **settings: Any) -> Monitor:
        unknown = sorted(set(settings) - set(_SETTINGS) - {"name"})
        if unknown:
            raise TypeError(f"unknown monitor settings: {', '.join(unknown)}")
        data = self._client.request("PATCH", f"/monitors/{int(monitor_id)}", json=settings)
        return Monitor.from_dict(data)

    def delete(self, monitor_id: int) -> None:
        self._client.request("DELETE", f"/monitors/{int(monitor_id)}")

    # ---------------------------------------------------------------- data

    def reference(self, monitor_id: int) -> MonitorReference:
        """The reference profile (bins) the monitor's live version is compared against."""
        data = self._client.request("GET", f"/monitors/{int(monitor_id)}/reference")
        return MonitorReference.from_dict(data)

    def post_window(
        self,
        monitor_id: int,
        *,
        reference_id: int,
        window_start: int,
        source: str,
        summary: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Any:
        """Post one source's whole summary of one window (a re-post from ``source`` replaces it).
        A stale ``reference_id`` raises ``ConflictError`` whose ``details["reference"]`` is current."""
        body = {
            "reference_id": int(reference_id),
            "window_start": int(window_start),
            "source": source,
            "summary": summary,
        }
        key = idempotency_key or self._client.new_idempotency_key()
        return self._client.request(
            "POST", f"/monitors/{int(monitor_id)}/windows", json=body, idempotency_key=key
        )

    def post_rows(
        self, monitor_id: int, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> builtins.list[Any]:
        """Raw rows for the server to bin (``timestamp`` in epoch ms, ``prediction_id`` optional),
        sent in requests of at most 10,000 rows, each with its own Idempotency-Key.

        ``rows`` is a list of row objects (sent as ``{"rows": [...]}``) or columns: a mapping of
        column name to equal-length values (lists, tuples or numpy arrays; a pandas DataFrame's
        ``to_dict("list")``), sent column-wise as ``{"columns": {name: [...]}}``, which the server
        parses and bins without building a row object per value."""
        if isinstance(rows, Mapping):
            return self._post_columns(monitor_id, rows)
        out = []
        for i in range(0, len(rows), MAX_ROWS_PER_POST):
            chunk = [dict(r) for r in rows[i : i + MAX_ROWS_PER_POST]]
            out.append(self._post_rows_body(monitor_id, {"rows": chunk}))
        return out

    def _post_columns(self, monitor_id: int, columns: Mapping[str, Any]) -> builtins.list[Any]:
        # numpy arrays become lists through their own tolist() (numpy itself is never imported here)
        cols = {str(k): v.tolist() if hasattr(v, "tolist") else list(v) for k, v in columns.items()}
        sizes = {len(v) for v in cols.values()}
        if len(sizes) != 1:
            raise ValueError("columns must be a non-empty mapping of equal-length sequences")
        n = sizes.pop()
        return [
            self._post_rows_body(
                monitor_id, {"columns": {k: v[i : i + MAX_ROWS_PER_POST] for k, v in cols.items()}}
            )
            for i in range(0, n, MAX_ROWS_PER_POST)
        ]

    def _post_rows_body(self, monitor_id: int, body: dict[str, Any]) -> Any:
        return self._client.request(
            "POST",
            f"/monitors/{int(monitor_id)}/rows",
            json=body,
            idempotency_key=self._client.new_idempotency_key(),
        )

    def post_labels(self, monitor_id: int, labels: Sequence[Mapping[str, Any]]) -> builtins.list[Any]:
        """Late ground truth ``[{"prediction_id", "label"}]``, joined by the server to rows it kept."""
        out = []
        for i in range(0, len(labels), MAX_ROWS_PER_POST):
            chunk = [
                {"prediction_id": str(x["prediction_id"]), "label": x["label"]}
                for x in labels[i : i + MAX_ROWS_PER_POST]
            ]
            out.append(
                self._client.request(
                    "POST",
                    f"/monitors/{int(monitor_id)}/labels",
                    json={"labels": chunk},
                    idempotency_key=self._client.new_idempotency_key(),
                )
            )
        return out

    def post_performance(
        self,
        monitor_id: int,
        *,
        window_start: int,
        source: str,
        performance: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Any:
        """One source's whole ``tether.performance/1`` summary of one window (replaces its last)."""
        body = {"window_start": int(window_start), "source": source, "performance": performance}
        key = idempotency_key or self._client.new_idempotency_key()
        return self._client.request(
            "POST", f"/monitors/{int(monitor_id)}/labels", json=body, idempotency_key=key
        )

    def drift(self, monitor_id: int, *, start: int | None = None, end: int | None = None) -> Any:
        """Per window and column: psi, js, ks, wasserstein, n, status; plus the dataset verdict."""
        params = {"from": start, "to": end}
        return self._client.request("GET", f"/monitors/{int(monitor_id)}/drift", params=params)

    def performance(self, monitor_id: int, *, start: int | None = None, end: int | None = None) -> Any:
        params = {"from": start, "to": end}
        return self._client.request("GET", f"/monitors/{int(monitor_id)}/performance", params=params)

    def histogram(self, monitor_id: int, window_start: int, column: str) -> Any:
        path = f"/monitors/{int(monitor_id)}/windows/{int(window_start)}/histogram"
        return self._client.request("GET", path, params={"column": column})

    # ---------------------------------------------------------------- the live handle

    def open(self, monitor_id: int, **options: Any) -> MonitorHandle:
        """A ``tether.Monitor`` handle (fetches the reference once); see ``tether.monitor``."""
        from .._monitor import Monitor as MonitorHandle

        return MonitorHandle(self._client, self.get(monitor_id), **options)


class Alerts(Resource):
    def list(
        self,
        *,
        status: str | None = None,
        monitor: int | None = None,
        ab_test: int | None = None,
        model: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[Alert]:
        def fetch(token: str | None) -> Page[Alert]:
            params = {
                "status": status,
                "monitor": monitor,
                "ab_test": ab_test,
                "model": model,
                "max_results": page_size,
                "page_token": token,
            }
            return Page.from_dict(self._client.request("GET", "/alerts", params=params), Alert.from_dict)

        return Paginator(fetch, limit=limit)

    def get(self, alert_id: int) -> Alert:
        return Alert.from_dict(self._client.request("GET", f"/alerts/{int(alert_id)}"))

    def acknowledge(self, alert_id: int, *, comment: str = "") -> Alert:
        data = self._client.request("POST", f"/alerts/{int(alert_id)}/acknowledge", json={"comment": comment})
        return Alert.from_dict(data)

    def resolve(self, alert_id: int, *, comment: str = "") -> Alert:
        data = self._client.request("POST", f"/alerts/{int(alert_id)}/resolve", json={"comment": comment})
        return Alert.from_dict(data)
