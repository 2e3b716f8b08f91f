"""tether db backup: a consistent SQLite copy while a writer thread keeps committing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.api.helpers import new_experiment, new_run
from tether_server.runtime import Runtime
from tether_server.services.ops.backup import backup_sqlite

from .server_proc import run_cli, server_env

BATCH = 100


def _check_snapshot(path: Path, run_id: str) -> int:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n, top = con.execute("SELECT count(*), max(step) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()
        latest = con.execute(
            "SELECT step FROM latest_metrics WHERE run_id = ? AND key = 'loss'", (run_id,)
        ).fetchone()
    finally:
        con.close()
    assert n % BATCH == 0  # every batch is all there or not at all
    if n:
        assert latest is not None and latest[0] == top == n - 1  # the summary matches the points
    return int(n)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_backup_under_concurrent_writes(app: Any, client: Any, auth: dict[str, str], tmp_path: Path) -> None:
    run_id = new_run(client, auth, new_experiment(client, auth, "bk"))
    stop, errors, written = threading.Event(), [], [0]

    def writer() -> None:
        c = app.test_client()
        step = 0
        while not stop.is_set():
            pts = [{"key": "loss", "value": 1.0, "step": step + i, "timestamp": 1} for i in range(BATCH)]
            r = c.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": pts}, headers=auth)
            if r.status_code != 200:
                errors.append(r.status_code)
                return
            step += BATCH
            written[0] = step

    t = threading.Thread(target=writer)
    t.start()
    try:
        src = Path(make_url(Runtime.of(app).database.url).database)
        seen = []
        while len(seen) < 5 or written[0] < 2000:
            dest = tmp_path / f"b{len(seen)}.db"
            backup_sqlite(src, dest)
            seen.append(_check_snapshot(dest, run_id))
        env = server_env(tmp_path / "d", TETHER_DATABASE_URL=f"sqlite:///{src}")
        r = (
            run_cli(["db", "backup", str(tmp_path / "cli")], env)
            if (tmp_path / "cli").mkdir() is None
            else None
        )
        assert r is not None and r.returncode == 0, r.stderr if r else ""
        seen.append(_check_snapshot(tmp_path / "cli" / src.name, run_id))
    finally:
        stop.set()
        t.join(30)
    assert not errors
    assert seen == sorted(seen) and seen[-1] > 0  # later copies hold more; the writer never stopped


def test_backup_refuses_postgres(tmp_path: Path) -> None:
    env = server_env(tmp_path, TETHER_DATABASE_URL="postgresql://u:p@127.0.0.1:1/x")
    r = run_cli(["db", "backup", str(tmp_path / "x.db")], env)
    assert r.returncode != 0 and "pg_dump" in r.stderr
