"""Operational telemetry: the request/ingest instruments and the dependency probes behind
``/api/v1/ready``.

Every runtime has an ``Instruments`` object that the request pipeline and the ingest routes record
into. With ``TETHER_METRICS=off`` (the default) it is this module's no-op ``Instruments``, and
prometheus_client is never imported; with ``token`` or ``open`` it is ``prometheus.Metrics``, which
``GET /metrics`` renders (``instruments_for``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from ..db import Database
    from ..runtime import Runtime

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Instruments:
    """What the server records, as no-ops: the instruments of a server whose metrics are off."""

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def ingested(self, points: int, batches: int = 0) -> None:
        pass

    def artifact_in(self, n: int) -> None:
        pass

    def artifact_out(self, n: int) -> None:
        pass

    def webhook_attempt(self, delivered: bool) -> None:
        pass

    def watch_pool(self, database: Database) -> None:
        pass

    def render(self, runtime: Runtime) -> bytes:
        raise RuntimeError("metrics are off (TETHER_METRICS=off)")


def instruments_for(mode: str) -> Instruments:
    """No-op instruments when metrics are off, Prometheus ones otherwise (imported only then)."""
    if mode == "off":
        return Instruments()
    from .prometheus import Metrics

    return Metrics()


# ---------------------------------------------------------------------- readiness


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str
    ms: float


def _probe(name: str, check: Callable[[], Any]) -> Probe:
    t0 = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001  (readiness reports any failure, by class name only)
        return Probe(name, False, _short(exc), (time.perf_counter() - t0) * 1000)
    return Probe(name, True, "ok", (time.perf_counter() - t0) * 1000)


def _short(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or exc.__class__.__name__
    return str(msg)[:200]


def check_dependencies(runtime: Runtime) -> list[Probe]:
    """Each dependency the server needs to take traffic: the database answers a query, the artifact
    store is reachable and writable."""

    def database() -> None:
        with runtime.database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return [_probe("database", database), _probe("artifact_store", runtime.store.check)]
