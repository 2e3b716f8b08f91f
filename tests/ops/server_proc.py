"""A real ``tether server`` (gunicorn) subprocess for ops tests: start, wait until healthy, kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

TETHER = str(Path(sys.executable).parent / "tether")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_") or k.startswith("TETHER_TEST_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        TETHER_DATA_DIR=str(data_dir),
        TETHER_CREDENTIALS_FILE=str(data_dir / "creds.json"),
        TETHER_SECRET_KEY="s" * 32,
        TETHER_WEBHOOK_WORKER="false",
        **extra,
    )
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TETHER, *args], env=env, capture_output=True, text=True, timeout=timeout)


class ServerProcess:
    def __init__(self, env: dict[str, str], port: int | None = None, workers: int = 2, threads: int = 2):
        self.env, self.port = env, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.workers, self.threads = workers, threads

    def start(self) -> ServerProcess:
        args = [TETHER, "server", "--port", str(self.port), "--migrate"]
        args += ["--workers", str(self.workers), "--threads", str(self.threads)]
        self.proc = subprocess.Popen(
            args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tether server exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("tether server did not become healthy")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill(signal.SIGTERM)
