"""A real ``tether server`` (gunicorn) in a subprocess, on SQLite or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.artifacts.conftest import _free_port

TETHER = str(Path(sys.executable).parent / "tether")
ADMIN_TOKEN = "tth_" + "h" * 40


@dataclass
class LiveServer:
    url: str
    token: str
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def worker_pids(self) -> set[int]:
        """The gunicorn workers: children of the master (``tether server`` execs gunicorn in place)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.add(int(entry.name))
        return pids

    def lines(self) -> list[str]:
        return [line.rstrip("\n") for line in list(self.log)]


@contextmanager
def tether_server(
    data_dir: Path,
    database_url: str = "",
    *,
    workers: int = 1,
    threads: int = 4,
    env_extra: dict[str, str] | None = None,
    admin_token: str | None = ADMIN_TOKEN,
) -> Iterator[LiveServer]:
    """Start ``tether server --migrate`` and wait for /health; on exit stop it and collect stderr."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_DATA_DIR=str(data_dir), TETHER_CREDENTIALS_FILE=str(data_dir.parent / "creds.json"))
    if admin_token:
        env["TETHER_ADMIN_TOKEN"] = admin_token
    if database_url:
        env["TETHER_DATABASE_URL"] = database_url
    env.update(env_extra or {})
    args = [TETHER, "server", "--port", str(port), "--migrate", "--workers", str(workers)]
    proc = subprocess.Popen(
        [*args, "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", admin_token or "", proc)
    reader = threading.Thread(target=lambda: server.log.extend(proc.stderr or ()), daemon=True)
    reader.start()  # stderr lines as they come (``server.log``), so tests can look while it runs
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                time.sleep(0.5)
                raise RuntimeError("server exited: " + "".join(server.log[-20:]))
            try:
                if requests.get(server.url + "/api/v1/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(10)
