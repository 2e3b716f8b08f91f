"""Prometheus instruments: what ``GET /metrics`` exposes when ``TETHER_METRICS`` is ``token`` or ``open``.

Counters and histograms live in one ``Metrics`` object per runtime. Under gunicorn, ``tether server``
sets ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder, before the workers fork: the one process-wide
setting, because prometheus_client reads it at import) so every worker writes its values to files there
and a scrape answered by any worker sums them all; gunicorn's ``child_exit`` hook
(``gunicorn_conf.child_exit``) marks a dead worker's live gauges. Without the variable (tests, a single
process) the values stay in this object's own registry.

Values that live in the database (webhook outbox depth, failed deliveries, open alerts, window lag) are
read at scrape time by the scrape collectors, so every worker reports the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from . import LATENCY_BUCKETS, Instruments, check_dependencies, multiprocess_dir

if TYPE_CHECKING:
    from ..db import Database
    from ..runtime import Runtime

logger = logging.getLogger(__name__)

#: A scrape-time collector: given a read session, yields metric families (see ``add_scrape_collector``).
ScrapeCollector = Callable[[Session], Iterable[Metric]]


class Metrics(Instruments):
    """The process's instruments. Label values are bounded: routes are URL templates (``<unmatched>``
    for 404s), never raw paths."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tether_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "tether_http_request_duration_seconds",
            "Time from the request's first hook to its response",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.points = Counter("tether_metric_points_ingested", "Metric points stored", registry=r)
        self.batches = Counter("tether_metric_batches_ingested", "Metric batch requests stored", registry=r)
        self.artifact_bytes = Counter(
            "tether_artifact_bytes",
            "Artifact bytes received (in) and served (out)",
            ["direction"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "tether_webhook_delivery_attempts",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            registry=r,
        )
        self.pool_in_use = Gauge(
            "tether_db_pool_connections_in_use",
            "Database connections checked out of the pool",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._scrape_collectors: list[ScrapeCollector] = [outbox_collector, monitoring_collector]

    # ------------------------------------------------------------------ recording

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def ingested(self, points: int, batches: int = 0) -> None:
        if points:
            self.points.inc(points)
        if batches:
            self.batches.inc(batches)

    def artifact_in(self, n: int) -> None:
        if n > 0:
            self.artifact_bytes.labels("in").inc(n)

    def artifact_out(self, n: int) -> None:
        if n > 0:
            self.artifact_bytes.labels("out").inc(n)

    def webhook_attempt(self, delivered: bool) -> None:
        self.webhook_attempts.labels("delivered" if delivered else "failed").inc()

    def watch_pool(self, database: Database) -> None:
        """Count checked-out connections (a live gauge: summed over the running workers)."""
        event.listen(database.engine, "checkout", lambda *_: self.pool_in_use.inc())
        event.listen(database.engine, "checkin", lambda *_: self.pool_in_use.dec())

    # ------------------------------------------------------------------ exposition

    def add_scrape_collector(self, collector: ScrapeCollector) -> None:
        """Read gauges from the database at scrape time (e.g. open alerts and window lag)."""
        self._scrape_collectors.append(collector)

    def render(self, runtime: Runtime) -> bytes:
        """The exposition text: every worker's instruments, then the scrape-time gauges."""
        mp_dir = multiprocess_dir()
        if mp_dir:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=mp_dir)
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_ScrapeTime(runtime, self._scrape_collectors))
        return body + generate_latest(scrape)


class _ScrapeTime:
    def __init__(self, runtime: Runtime, collectors: list[ScrapeCollector]) -> None:
        self.runtime, self.collectors = runtime, collectors

    def collect(self) -> Iterator[Metric]:
        pool = self.runtime.database.engine.pool
        size = getattr(pool, "size", None)
        if callable(size):
            yield _gauge("tether_db_pool_size", "Pool size of the answering process", size())
        up = GaugeMetricFamily("tether_dependency_up", "1 when the dependency answers", labels=["dependency"])
        for probe in check_dependencies(self.runtime):
            up.add_metric([probe.name], 1.0 if probe.ok else 0.0)
        yield up
        try:
            with self.runtime.database.transaction(write=False) as s:
                for collector in self.collectors:
                    yield from collector(s)
        except Exception as exc:  # noqa: BLE001  (a scrape reports what it can)
            logger.warning("scrape-time metrics unavailable: %s", exc.__class__.__name__)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], value)
    return g


def outbox_collector(s: Session) -> Iterator[Metric]:
    from ..models import now_ms
    from ..models.registry import WebhookDelivery as D

    rows = dict(s.execute(select(D.status, func.count()).group_by(D.status)).all())
    yield _gauge(
        "tether_webhook_outbox_pending", "Webhook deliveries waiting in the outbox", rows.get("pending", 0)
    )
    yield _gauge("tether_webhook_deliveries_failed", "Webhook deliveries given up on", rows.get("failed", 0))
    oldest = s.execute(select(func.min(D.created_at)).where(D.status == "pending")).scalar()
    lag = max(0.0, (now_ms() - oldest) / 1000) if oldest else 0.0
    yield _gauge("tether_webhook_outbox_oldest_seconds", "Age of the oldest pending delivery", lag)


def monitoring_collector(s: Session) -> Iterator[Metric]:
    """Open alerts (kind, severity, status) and, per monitor, window lag and evaluation lag
    (``services.monitoring.status``)."""
    from ..models import now_ms
    from ..services.monitoring import status

    alerts = GaugeMetricFamily(
        "tether_alerts_open",
        "Alerts not resolved yet (open or acknowledged), monitors and A/B tests",
        labels=["kind", "severity", "status"],
    )
    for kind, severity, st, n in status.open_alert_counts(s):
        alerts.add_metric([kind, severity, st], n)
    yield alerts
    window = GaugeMetricFamily(
        "tether_monitor_window_lag_seconds",
        "Seconds since the end of the newest window a monitor received data for",
        labels=["monitor_id", "model"],
    )
    evaluation = GaugeMetricFamily(
        "tether_monitor_evaluation_lag_seconds",
        "Seconds the oldest window waiting for the evaluator has waited (0: nothing waits)",
        labels=["monitor_id", "model"],
    )
    for lag in status.monitor_lags(s, now_ms()):
        labels = [str(lag.monitor_id), lag.model]
        if lag.window_lag_seconds is not None:
            window.add_metric(labels, lag.window_lag_seconds)
        evaluation.add_metric(labels, lag.evaluation_lag_seconds)
    yield window
    yield evaluation
