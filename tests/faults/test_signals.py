"""Stopping a server under load.

SIGTERM to the master: requests in flight complete (gunicorn's graceful drain), and the webhook worker
leaves no delivery half-marked (a row is "delivered" only if the receiver got it; the rest are sent after
the restart). SIGKILL of one worker while 10,000-point batches are in flight: no batch is half-applied,
and retries with the same Idempotency-Key store each batch once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from .conftest import Services
from .live import ADMIN_TOKEN, Api, server_env, tether_server, wait_until
from .receiver import DedupReceiver
from .workload import blob, retry_call, setup_registry

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
MiB = 1024 * 1024


class SlowBody:
    """A request body of known length that arrives slowly (requests sends it with Content-Length)."""

    def __init__(self, data: bytes, chunk: int = 512 * 1024, pause: float = 0.25) -> None:
        self.data, self.pos, self.chunk, self.pause = data, 0, chunk, pause

    def __len__(self) -> int:
        return len(self.data) - self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos:
            time.sleep(self.pause)
        out = self.data[self.pos : self.pos + self.chunk]  # whatever size is asked for
        self.pos += len(out)
        return out


def _deliveries(db_url: str) -> list[tuple[int, str, str]]:
    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = [
            (i, s, json.loads(p)["id"])
            for i, s, p in c.execute(text("SELECT id, status, payload FROM webhook_deliveries"))
        ]
    eng.dispose()
    return rows


def test_sigterm_drains_in_flight_requests_and_webhooks(services: Services, tmp_path: Path) -> None:
    db_url = services.new_database()
    env = server_env(tmp_path / "data", db_url, {"TETHER_ARTIFACT_URI": str(tmp_path / "artifacts")})
    with DedupReceiver(delay=0.3) as receiver:
        with tether_server(env, workers=2, threads=4) as srv:
            api = Api(srv.url)
            reg_run, _, _ = setup_registry(api, "rev", "sig")
            api.ok("POST", "/webhooks", 201, json={"url": receiver.url, "events": ["*"]})
            exp = api.ok("POST", "/experiments", 201, json={"name": "drain"})["id"]
            run_id = api.ok("POST", "/runs", 201, json={"experiment_id": exp})["id"]
            for _ in range(12):  # events pile up; the slow receiver keeps deliveries in flight
                api.ok(
                    "POST", "/models/sig/versions", 201, json={"run_id": reg_run, "artifact_path": "model"}
                )
            datas = {f"slow{i}.bin": blob(f"s{i}", 4 * MiB) for i in range(4)}

            def upload(path: str) -> int:
                h = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                r = requests.put(
                    f"{srv.url}/api/v1/runs/{run_id}/artifacts/{path}",
                    data=SlowBody(datas[path]),
                    headers=h,
                    timeout=60,
                )
                return r.status_code

            with ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(upload, p) for p in datas]
                time.sleep(0.8)  # every upload is now being read by a worker thread
                os.kill(srv.proc.pid, signal.SIGTERM)
                statuses = [f.result() for f in futures]
            srv.proc.wait(40)
            assert statuses == [201] * 4  # drained, not cut off
            assert not srv.errors_logged(), "".join(srv.errors_logged())[:4000]

        rows = _deliveries(db_url)
        assert len(rows) >= 12
        got = receiver.events
        for _id, status, event_id in rows:
            assert status in ("pending", "delivered"), status
            if status == "delivered":
                assert event_id in got  # marked delivered only after the receiver had it
        pending_at_stop = sum(s == "pending" for _, s, _ in rows)

        # a new server on the same database sends the rest
        with tether_server(env, workers=1, threads=4) as srv2:
            wait_until(lambda: all(s == "delivered" for _, s, _ in _deliveries(db_url)), 90, "deliveries")
            api2 = Api(srv2.url)
            for path, data in datas.items():
                assert api2.call("GET", f"/runs/{run_id}/artifacts/{path}").content == data
        assert receiver.events == {e for _, _, e in _deliveries(db_url)}
        print(f"pending at SIGTERM: {pending_at_stop} of {len(rows)}; duplicates: {receiver.duplicates}")


def test_sigkill_of_a_worker_leaves_no_half_batch_and_retries_do_not_duplicate(
    services: Services, tmp_path: Path
) -> None:
    db_url = services.new_database()
    env = server_env(tmp_path / "data", db_url, {"TETHER_ARTIFACT_URI": str(tmp_path / "artifacts")})
    size, per_writer, writers = 10_000, 5, 4
    with tether_server(env, workers=2, threads=4) as srv:
        api = Api(srv.url)
        exp = api.ok("POST", "/experiments", 201, json={"name": "kill"})["id"]
        runs = [api.ok("POST", "/runs", 201, json={"experiment_id": exp})["id"] for _ in range(writers)]

        def write(run_id: str) -> None:
            for b in range(per_writer):
                metrics = [{"key": "x", "value": s * 0.5, "step": s} for s in range(b * size, (b + 1) * size)]
                key = uuid.uuid4().hex
                r = retry_call(
                    api,
                    time.monotonic() + 120,
                    "POST",
                    f"/runs/{run_id}/batch",
                    json={"metrics": metrics},
                    headers={"Idempotency-Key": key},
                )
                assert r is not None and r.status_code == 200, r and r.text

        threads = [threading.Thread(target=write, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        time.sleep(1.0)
        victim = sorted(srv.worker_pids())[0]
        os.kill(victim, signal.SIGKILL)
        for t in threads:
            t.join(180)
        assert not any(t.is_alive() for t in threads)
        assert 500 not in api.statuses, api.statuses
        wait_until(lambda: len(srv.worker_pids()) == 2, 30, "gunicorn to replace the worker")
        print(f"requests without an answer (retried with the same key): {api.no_answer}")

    eng = create_engine(db_url)
    with eng.connect() as c:
        for run_id in runs:
            n, distinct, lo, hi = c.execute(
                text(
                    "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM metrics WHERE run_id = :r"
                ),
                {"r": run_id},
            ).one()
            assert (n, distinct, lo, hi) == (size * per_writer, size * per_writer, 0, size * per_writer - 1)
            latest = c.execute(
                text("SELECT step FROM latest_metrics WHERE run_id = :r"), {"r": run_id}
            ).scalar()
            assert latest == size * per_writer - 1
    eng.dispose()
