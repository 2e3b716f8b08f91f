"""Evaluator passes in separate processes on one database: three server-style passes (a claimed
monitor is skipped) and one ``tether monitors evaluate`` (waits for a claimed monitor) start at the
same moment. Every due window is stored exactly once, each alert is opened exactly once, and no
process fails. The claim is real here: a PostgreSQL advisory lock, or a ``flock`` on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import select

from tether_server.models import AuditEvent
from tether_server.models.monitoring import MonitorWindowResult
from tether_server.runtime import Runtime

from .helpers import HOUR, T0, create_monitor, post_rows, production_model

# each process imports first, then sleeps until the shared start time
_PASS = """
import sys, time
from tether_server.db import Database
from tether_server.workers.monitoring import evaluate_once
database = Database(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(evaluate_once(database, int(sys.argv[3]), wait=False))
database.dispose()
"""
_CLI = """
import sys, time
from tether.cli import main
start = float(sys.argv.pop(1))
time.sleep(max(0.0, start - time.time()))
main()
"""


def test_concurrent_passes_in_separate_processes_store_each_window_and_alert_once(
    app: Any, client: Any, auth: dict[str, str]
) -> None:
    production_model(app, client, auth)
    monitors = [create_monitor(client, auth, name=f"m{i}")["id"] for i in range(3)]
    for i, mid in enumerate(monitors):
        for k, shift in enumerate((0.0, 0.8, 0.8)):  # the last two windows drift on `age`
            post_rows(client, auth, mid, T0 + k * HOUR, shift, 10 * i + k, n=500)
    settings = Runtime.of(app).settings
    url = settings.resolved_database_url
    now = T0 + 5 * HOUR
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_DATABASE_URL=url, TETHER_DATA_DIR=settings.data_dir, TETHER_LOG_FORMAT="text")
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PASS, url, str(start), str(now)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-c", _CLI, str(start), "monitors", "evaluate", "--now", str(now)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    counts = [int(out.split()[0]) for out, _ in outs]
    assert sum(counts) == 3 * len(monitors), counts  # every window stored by exactly one process

    with Runtime.of(app).database.session(write=False) as s:
        results = s.scalars(select(MonitorWindowResult)).all()
        opened = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "alert.opened")).all()
        assert len(results) == 3 * len(monitors)
        assert all(r.closed and not r.dirty and r.alerts_done and r.n == 500 for r in results)
    alerts = []
    for mid in monitors:
        items = client.get(f"/api/v1/alerts?monitor={mid}", headers=auth).json["items"]
        drift = [a for a in items if a["rule"] == "drift" and a["column"] == "age"]
        assert len(drift) == 1 and drift[0]["first_window"] == T0 + HOUR, items
        assert len({(a["rule"], a["column"]) for a in items}) == len(items)
        alerts += items
    assert len(opened) == len(alerts)  # each alert opened once, by one process
