"""First start on an empty data folder: generated secrets appear whole (never an empty key in a worker),
an empty key file is refused, and every worker of a fresh multi-worker server serves the login page."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
import requests

from tether_server import create_app
from tether_server.config import ConfigError, Settings
from tether_server.secrets_store import load_secret_key

from .live import tether_server

WORKERS = 4
STARTS = 3


def _race_key(folder: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    barrier.wait()
    out.put(load_secret_key(Settings(data_dir=folder)))


def test_processes_racing_for_the_secret_key_all_get_the_same_whole_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(15):
        folder = str(tmp_path / f"d{round_}")
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_race_key, args=(folder, barrier, out)) for _ in range(6)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert len(set(keys)) == 1 and len(keys[0]) >= 40, keys
        assert (Path(folder) / "secret_key").read_text() == keys[0]
        assert sorted(p.name for p in Path(folder).iterdir()) == ["secret_key"]  # no temp files left


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("  \n")
    with pytest.raises(ConfigError, match="TETHER_SECRET_KEY"):
        create_app(Settings(data_dir=str(tmp_path / "data"), artifact_uri=str(tmp_path / "a")))


def test_fresh_multi_worker_server_serves_login_on_every_worker(tmp_path: Path, server_db_url: str) -> None:
    for start in range(STARTS):
        data = tmp_path / f"start{start}" / "data"
        url = server_db_url
        if url and start:  # PostgreSQL: a new empty database per start, like the empty folder
            from tests.conftest import create_pg_database

            url = create_pg_database()
        with tether_server(data, url, workers=WORKERS, threads=1, admin_token=None) as srv:
            workers = srv.worker_pids()
            assert len(workers) == WORKERS
            statuses, seen = [], set()
            deadline = time.monotonic() + 90  # a loaded host may still be booting the last worker
            while time.monotonic() < deadline:
                r = requests.get(srv.url + "/login", headers={"Connection": "close"}, timeout=30)
                statuses.append(r.status_code)
                rid = r.headers["X-Request-Id"]
                seen |= {
                    rec["pid"]
                    for rec in map(json.loads, srv.lines())
                    if rec.get("request_id") == rid and rec.get("route") == "/login"
                }
                if seen >= workers:
                    break
            assert set(statuses) == {200}, statuses
            assert seen >= workers, (seen, workers)
        key = (data / "secret_key").read_text()
        assert len(key) >= 40 and "Secret key" not in "".join(srv.lines())
        if url and start:
            from tests.conftest import drop_pg_database

            drop_pg_database(url)
