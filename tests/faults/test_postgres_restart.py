"""PostgreSQL stops for 10 s under a steady write load and starts again; the server is not restarted.

Promises: while the database is down every answer is 503 with Retry-After (never a 500); the SDK's
buffered loggers retry and lose nothing; afterwards every acknowledged write is present exactly once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .conftest import Services
from .live import ADMIN_TOKEN, Api, server_env, tether_server, wait_until
from .workload import BATCH, Acks, Load, sdk_logger, setup_registry

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_postgres_restart_under_write_load(services: Services, tmp_path: Path) -> None:
    db_url = services.new_database()
    env = server_env(tmp_path / "data", db_url, {"TETHER_ARTIFACT_URI": str(tmp_path / "artifacts")})
    with tether_server(env, workers=2, threads=4) as srv:
        pids_before = srv.worker_pids()
        api = Api(srv.url)
        reg_run, reviewer, _ = setup_registry(api, "rev", "pgmodel")
        exp = api.ok("POST", "/experiments", 201, json={"name": "load"})["id"]
        acks = Acks()
        load = Load([api], exp, acks)
        art_run = load.new_run(0)
        for i in range(2):
            load.start(load.batch_writer, i)
        load.start(load.artifact_writer, 0, art_run)
        load.start(load.approver, 0, "pgmodel", reg_run, reviewer)
        sdk = [
            threading.Thread(target=sdk_logger, args=(srv.url, ADMIN_TOKEN, "sdk", 1500, 0.012, acks))
            for _ in range(2)
        ]
        for t in sdk:
            t.start()

        time.sleep(3)
        services.stop_pg()
        down_at = time.monotonic()
        # while it is down: reads and writes answer 503 + Retry-After, never 500
        probe = Api(srv.url)
        while time.monotonic() - down_at < 10:
            for method, path, kw in (
                ("GET", f"/runs/{art_run}", {}),
                ("POST", "/runs", {"json": {"experiment_id": exp}}),
                (
                    "POST",
                    f"/runs/{art_run}/batch",
                    {"json": {"metrics": [{"key": "p", "value": 1, "step": 0}]}},
                ),
            ):
                r = probe.call(method, path, **kw)
                assert r.status_code == 503, (method, path, r.status_code, r.text)
                assert r.headers.get("Retry-After") and r.json()["error"]["code"] == "UNAVAILABLE"
            time.sleep(0.5)
        services.start_pg()
        # the same server answers again without a restart
        wait_until(lambda: probe.call("GET", f"/runs/{art_run}").status_code == 200, 30, "recovery")
        time.sleep(4)
        load.join()
        for t in sdk:
            t.join(180)
        assert not any(t.is_alive() for t in sdk)

        for a in (api, reviewer, probe):
            assert 500 not in a.statuses and not any(s >= 500 and s != 503 for s in a.statuses), a.statuses
            assert a.retry_after_missing == 0
        assert probe.statuses[503] >= 6  # the outage was seen
        assert srv.worker_pids() == pids_before  # no worker died and was replaced
        assert not srv.errors_logged(), "".join(srv.errors_logged())[:6000]

        _check_exactly_once(db_url, acks)
        for (run_id, path), sha in acks.artifacts.items():
            r = api.call("GET", f"/runs/{run_id}/artifacts/{path}")
            assert r.status_code == 200 and __import__("hashlib").sha256(r.content).hexdigest() == sha
        for req_id in acks.approvals:
            assert reviewer.ok("GET", f"/transition-requests/{req_id}")["status"] == "approved"
        assert acks.approvals and len(acks.artifacts) > 5 and sum(map(len, acks.batches.values())) > 10


def _check_exactly_once(db_url: str, acks: Acks) -> None:
    eng = create_engine(db_url)
    with eng.connect() as c:
        for run_id, steps in acks.batches.items():
            n, distinct = c.execute(
                text("SELECT count(*), count(DISTINCT step) FROM metrics WHERE run_id = :r AND key = 'loss'"),
                {"r": run_id},
            ).one()
            assert n == distinct, f"duplicated points in {run_id}: {n} rows, {distinct} steps"
            # every acknowledged batch is there (an unacknowledged one at the very end may be too)
            assert len(steps) * BATCH <= n <= (len(steps) + 1) * BATCH
            present = {
                s
                for (s,) in c.execute(
                    text("SELECT step FROM metrics WHERE run_id = :r AND key = 'loss'"), {"r": run_id}
                )
            }
            assert all(set(range(s0, s0 + BATCH)) <= present for s0 in steps)
        assert len(acks.sdk_points) == 2
        for run_id, points in acks.sdk_points.items():
            n, distinct, status = c.execute(
                text(
                    "SELECT count(*), count(DISTINCT m.step), max(r.status) FROM metrics m JOIN runs r ON r.id = m.run_id "
                    "WHERE m.run_id = :r AND m.key = 'sdk/loss'"
                ),
                {"r": run_id},
            ).one()
            assert (n, distinct, status) == (points, points, "FINISHED")
    eng.dispose()
