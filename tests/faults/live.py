"""Real ``tether server`` processes (gunicorn) for the fault tests, and small load helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

TETHER = str(Path(sys.executable).parent / "tether")
ADMIN_TOKEN = "tth_" + "f" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        TETHER_DATA_DIR=str(data_dir),
        TETHER_CREDENTIALS_FILE=str(data_dir.parent / f"creds-{data_dir.name}.json"),
        TETHER_ADMIN_TOKEN=ADMIN_TOKEN,
        TETHER_DATABASE_URL=database_url,
        TETHER_SECRET_KEY="fault-tests-secret",
        TETHER_LOG_LEVEL="WARNING",
        TETHER_WEBHOOK_ALLOWLIST="127.0.0.1/32",
        TETHER_WEBHOOK_POLL_SECONDS="0.5",
        TETHER_WEBHOOK_RETRY_BASE_SECONDS="1",
    )
    env.update(extra or {})
    return env


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def worker_pids(self) -> set[int]:
        """gunicorn's workers: the children of the master (``tether server`` execs gunicorn in place)."""
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

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.3)
                raise RuntimeError("server exited: " + "".join(self.log[-30:]))
            try:
                if requests.get(self.url + "/api/v1/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready: " + "".join(self.log[-30:]))

    def errors_logged(self) -> list[str]:
        return [line for line in self.log if "Traceback" in line or "unhandled error" in line]


@contextmanager
def tether_server(env: dict[str, str], *, workers: int = 1, threads: int = 4) -> Iterator[LiveServer]:
    port = free_port()
    proc = subprocess.Popen(
        [TETHER, "server", "--port", str(port), "--migrate", "--workers", str(workers)]
        + ["--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", proc)
    reader = threading.Thread(target=lambda: server.log.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        server.wait_ready()
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        reader.join(10)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TETHER, *args], env=env, capture_output=True, text=True, timeout=180)


class Api:
    """A thin requests wrapper that records every status it saw (to assert "no 500s")."""

    def __init__(self, url: str, token: str = ADMIN_TOKEN) -> None:
        self.url = url.rstrip("/") + "/api/v1"
        self.h = {"Authorization": f"Bearer {token}"}
        self.statuses: Counter[int] = Counter()
        self.retry_after_missing = 0
        self.no_answer = 0
        self.lock = threading.Lock()
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """One keep-alive session per thread (``requests.Session`` is not thread-safe)."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {**self.h, **kw.pop("headers", {})}
        r = self.session.request(
            method, self.url + path, headers=headers, timeout=kw.pop("timeout", 60), **kw
        )
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code == 503 and not r.headers.get("Retry-After"):
                self.retry_after_missing += 1
        return r

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text[:500])
        return r.json() if r.content else None

    def retrying(
        self, method: str, path: str, ok: tuple[int, ...] = (200, 201), deadline: float = 90, **kw: Any
    ):
        """Repeat a call on 503 / no answer (what a careful client does), never on other statuses."""
        end = time.monotonic() + deadline
        while True:
            try:
                r = self.call(method, path, **kw)
                if r.status_code != 503:
                    return r
            except requests.ConnectionError:
                pass
            if time.monotonic() > end:
                raise AssertionError(f"{method} {path} kept failing")
            time.sleep(0.3)


def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
