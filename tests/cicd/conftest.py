"""Fixtures for the pipeline CLI and the CI/CD examples: a live server (SQLite and PostgreSQL, from
the root conftest) with a writer and a reviewer, and helpers to run ``tether`` in-process or as a
real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Tether:
    url: str
    writer: str
    reviewer: str
    admin: str

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("TETHER_") or k.startswith("TETHER_TEST_")
        }
        env.update(
            TETHER_URL=self.url,
            TETHER_TOKEN=token or self.writer,
            TETHER_CREDENTIALS_FILE=os.environ["TETHER_CREDENTIALS_FILE"],
            TETHER_PROGRESS="0",
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        env.update(extra)
        return env

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = requests.request(
            method,
            f"{self.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {token or self.admin}"},
            timeout=30,
            **kw,
        )
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # reviewers see every model (else each pipeline-created model would need a grant for them)
    return {"default_permission": "READ"}


@pytest.fixture
def tether_srv(live_server: str, users: Any) -> Tether:
    return Tether(
        url=live_server,
        writer=users.create("wanda", "writer")[1],
        reviewer=users.create("rex", "reviewer")[1],
        admin=users.create("ada", "admin")[1],
    )


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        return CliRunner()


@pytest.fixture
def cli(tether_srv: Tether, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``tether ARGS`` in-process with TETHER_URL/TETHER_TOKEN of the live server's writer."""

    def run(
        *args: str, token: str | None = None, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        monkeypatch.setenv("TETHER_URL", tether_srv.url)
        monkeypatch.setenv("TETHER_TOKEN", token if token is not None else tether_srv.writer)
        monkeypatch.setenv("TETHER_PROGRESS", "0")
        monkeypatch.setenv("TETHER_RETRIES", "1")
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        r = _runner().invoke(main, list(args), input=input, catch_exceptions=False)
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


def run_tether(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tether"), *args], env=env, capture_output=True, text=True, timeout=120, **kw
    )


class AutoReviewer:
    """Approves (or rejects/cancels) pending transition requests as they appear, like a person in the UI."""

    def __init__(self, srv: Tether, decision: str = "approve") -> None:
        self.srv, self.decision = srv, decision
        self.stop = threading.Event()
        self.decided: list[int] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.2):
            page = self.srv.api(
                "GET", "/transition-requests", token=self.srv.reviewer, params={"status": "pending"}
            )
            for req in page["items"]:
                token = self.srv.writer if self.decision == "cancel" else self.srv.reviewer
                self.srv.api(
                    "POST",
                    f"/transition-requests/{req['id']}/{self.decision}",
                    token=token,
                    json={"comment": "auto"},
                )
                self.decided.append(req["id"])

    def __enter__(self) -> AutoReviewer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def auto_reviewer(tether_srv: Tether) -> Iterator[AutoReviewer]:
    with AutoReviewer(tether_srv) as r:
        yield r
