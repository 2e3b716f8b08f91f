"""GET /metrics (Prometheus) and /api/v1/ready, in-process and under a real 2-worker gunicorn."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import bearer
from tether_server import create_app
from tether_server.config import ConfigError, Settings
from tether_server.runtime import Runtime

from .server_proc import ServerProcess, server_env


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


@pytest.fixture
def metrics_app(settings: Settings) -> Any:
    from dataclasses import replace

    app = create_app(replace(settings, metrics="open"))
    app.config["TETHER_ACCESS_LOG"] = False
    yield app
    Runtime.of(app).close()


def test_metrics_off_by_default(client: Any) -> None:
    assert client.get("/metrics").status_code == 404


def test_counts_requests_points_and_artifact_bytes(metrics_app: Any, users: Any) -> None:
    from tests.conftest import Users

    c = metrics_app.test_client()
    token = Users(metrics_app).create("w", "writer")[1]
    exp = c.post("/api/v1/experiments", json={"name": "m"}, headers=bearer(token)).json["id"]
    run = c.post("/api/v1/runs", json={"experiment_id": exp}, headers=bearer(token)).json["id"]
    pts = [{"key": "loss", "value": i / 10, "step": i} for i in range(25)]
    h = {**bearer(token), "Idempotency-Key": "k-1"}
    for _ in range(2):  # the replay stores nothing and counts nothing
        assert c.post(f"/api/v1/runs/{run}/batch", json={"metrics": pts}, headers=h).status_code == 200
    assert (
        c.post(
            f"/api/v1/runs/{run}/metrics", json={"key": "acc", "value": 1}, headers=bearer(token)
        ).status_code
        == 200
    )
    assert (
        c.put(f"/api/v1/runs/{run}/artifacts/a.bin", data=b"x" * 1000, headers=bearer(token)).status_code
        == 201
    )
    assert c.get(f"/api/v1/runs/{run}/artifacts/a.bin", headers=bearer(token)).data == b"x" * 1000
    c.get("/api/v1/runs/nope-such-run", headers=bearer(token))
    c.get("/no/such/page/123")
    text = c.get("/metrics").get_data(as_text=True)
    assert sample(text, "tether_metric_points_ingested_total") == 26
    assert sample(text, "tether_metric_batches_ingested_total") == 1
    assert sample(text, "tether_artifact_bytes_total", direction="in") == 1000
    assert sample(text, "tether_artifact_bytes_total", direction="out") == 1000
    batch_route = "/api/v1/runs/<run_id>/batch"
    assert sample(text, "tether_http_requests_total", route=batch_route, method="POST", status="200") == 2
    assert sample(text, "tether_http_requests_total", route="/api/v1/runs/<run_id>", status="404") == 1
    assert sample(text, "tether_http_requests_total", route="<unmatched>") == 1
    assert "/no/such/page" not in text  # raw paths never become labels
    assert sample(text, "tether_http_request_duration_seconds_count", route=batch_route) == 2
    assert sample(text, "tether_webhook_outbox_pending") == 0
    assert sample(text, "tether_dependency_up", dependency="database") == 1
    assert sample(text, "tether_dependency_up", dependency="artifact_store") == 1
    assert "tether_db_pool_connections_in_use" in text


def test_token_mode(settings: Settings) -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError, match="TETHER_METRICS_TOKEN"):
        Settings.from_env({"TETHER_METRICS": "token"})
    with pytest.raises(ConfigError, match="TETHER_METRICS"):
        Settings.from_env({"TETHER_METRICS": "public"})
    app = create_app(replace(settings, metrics="token", metrics_token="scrape-" + "t" * 20))
    try:
        c = app.test_client()
        for headers in ({}, bearer("wrong-token"), {"Authorization": "Basic x"}):
            r = c.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.json["error"]["code"] == "UNAUTHENTICATED"
        r = c.get("/metrics", headers=bearer("scrape-" + "t" * 20))
        assert r.status_code == 200 and r.content_type.startswith("text/plain; version=0.0.4")
        assert "tether_http_requests_total" in r.get_data(as_text=True)
    finally:
        Runtime.of(app).close()


def test_ready_reports_each_dependency(client: Any) -> None:
    r = client.get("/api/v1/ready")
    assert r.status_code == 200
    assert r.json["checks"]["database"]["status"] == "ok"
    assert r.json["checks"]["artifact_store"]["status"] == "ok"


def test_ready_503_when_the_store_is_gone(app: Any, client: Any) -> None:
    root = Path(Runtime.of(app).store.root)  # type: ignore[attr-defined]
    shutil.rmtree(root)
    r = client.get("/api/v1/ready")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json["error"]["code"] == "UNAVAILABLE"
    assert r.json["error"]["details"]["failing"] == ["artifact_store"]
    assert r.json["checks"]["database"]["status"] == "ok"
    root.mkdir()
    assert client.get("/api/v1/ready").status_code == 200  # recovers without a restart


def test_ready_503_when_the_database_is_down(tmp_path: Path) -> None:
    from .server_proc import free_port

    url = f"postgresql+psycopg://tether:x@127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    app = create_app(
        Settings(
            data_dir=str(tmp_path), database_url=url, secret_key="k" * 16, webhook_worker=False, testing=True
        ).validated()
    )
    try:
        r = app.test_client().get("/api/v1/ready")
        assert r.status_code == 503
        assert r.json["error"]["details"]["failing"] == ["database"]
        assert r.json["checks"]["artifact_store"]["status"] == "ok"
        assert "x@" not in r.get_data(as_text=True)  # no URL or password in the answer
    finally:
        Runtime.of(app).close()


@pytest.mark.slow
def test_gunicorn_two_workers_are_both_counted(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", TETHER_METRICS="open")
    with ServerProcess(env, workers=2, threads=1) as srv:

        def get(path: str) -> requests.Response:
            return requests.get(srv.url + path, timeout=10, headers={"Connection": "close"})

        def health_count() -> float:
            return sample(
                get("/metrics").text, "tether_http_requests_total", route="/api/v1/health", status="200"
            )

        before = health_count()  # the start-up health polls
        mp_dir = tmp_path / "data" / "run" / f"metrics-{srv.port}"
        n, pids = 0, set()
        # Which worker accepts a connection is up to the kernel: with the workers pinned one per CPU
        # (TETHER_CPU_AFFINITY=auto on 2 cores) and the other pytest worker busy on one core, one
        # server worker can take 200 connections alone. Send batches until both have answered.
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and n < 2000:
                assert {r.status_code for r in pool.map(lambda _: get("/api/v1/health"), range(200))} == {200}
                n += 200
                pids = {p.stem.rsplit("_", 1)[1] for p in mp_dir.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers answered and wrote their counters
        for _ in range(4):  # whichever worker answers the scrape reports every worker's requests
            assert health_count() == before + n


def test_open_alerts_and_window_lag(metrics_app: Any) -> None:
    """Monitoring's scrape-time gauges: per monitor the window lag (data freshness) and the evaluation
    lag (work waiting for the evaluator), and the unresolved alerts by kind, severity and status, all
    equal to what the monitoring API reports."""
    import numpy as np

    from tests.conftest import Users
    from tests.monitoring.helpers import HOUR, T0, create_monitor, production_model, production_rows
    from tether_server.models import now_ms
    from tether_server.workers.monitoring import evaluate_once

    c = metrics_app.test_client()
    users = Users(metrics_app)
    w = bearer(users.create("w", "writer")[1])
    admin = bearer(users.create("a", "admin")[1])
    production_model(metrics_app, c, w)
    m = create_monitor(c, w)
    text = c.get("/metrics").get_data(as_text=True)
    labels = {"monitor_id": str(m["id"]), "model": "churn"}
    assert "tether_monitor_window_lag_seconds{" not in text  # no data posted yet: no lag to report
    assert sample(text, "tether_monitor_evaluation_lag_seconds", **labels) == 0.0
    assert "# TYPE tether_alerts_open gauge" in text and sample(text, "tether_alerts_open") == 0

    rows = production_rows(np.random.default_rng(1), 1000, shift=1.0, ts=T0)
    assert c.post(f"/api/v1/monitors/{m['id']}/rows", json={"rows": rows}, headers=w).status_code == 200
    t0 = now_ms()
    text = c.get("/metrics").get_data(as_text=True)
    t1 = now_ms()
    # the window [T0, T0 + 1 h) ended long ago; it has waited since its end + 5 min grace
    lag = sample(text, "tether_monitor_window_lag_seconds", **labels)
    assert (t0 - T0 - HOUR) / 1000 <= lag <= (t1 - T0 - HOUR) / 1000
    ev = sample(text, "tether_monitor_evaluation_lag_seconds", **labels)
    assert (t0 - T0 - HOUR - 300_000) / 1000 <= ev <= (t1 - T0 - HOUR - 300_000) / 1000

    evaluate_once(Runtime.of(metrics_app).database, now_ms())
    api = c.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=w).json["items"]
    assert api and {a["severity"] for a in api} == {"alert"}
    r = c.post(f"/api/v1/alerts/{api[0]['id']}/acknowledge", json={"comment": "on it"}, headers=admin)
    assert r.status_code == 200, r.json
    text = c.get("/metrics").get_data(as_text=True)
    assert sample(text, "tether_monitor_evaluation_lag_seconds", **labels) == 0.0  # nothing waits now
    assert sample(text, "tether_monitor_window_lag_seconds", **labels) >= lag
    assert sample(text, "tether_alerts_open", kind="monitor", severity="alert", status="open") == len(api) - 1
    assert sample(text, "tether_alerts_open", kind="monitor", severity="alert", status="acknowledged") == 1
    c.post(f"/api/v1/alerts/{api[0]['id']}/resolve", json={"comment": "fixed"}, headers=admin)
    text = c.get("/metrics").get_data(as_text=True)
    assert sample(text, "tether_alerts_open") == len(api) - 1
