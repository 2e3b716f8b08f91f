"""`tether server` and `tether db upgrade` as a user runs them (a real gunicorn process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

TETHER = str(Path(sys.executable).parent / "tether")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        TETHER_DATA_DIR=str(tmp_path / "data"), TETHER_CREDENTIALS_FILE=str(tmp_path / "creds.json"), **extra
    )
    return env


def test_server_refuses_out_of_date_schema(tmp_path):
    r = subprocess.run(
        [TETHER, "server", "--port", str(_free_port())],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "tether db upgrade" in r.stderr


def test_db_upgrade_then_version(tmp_path):
    r = subprocess.run(
        [TETHER, "db", "upgrade"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "revision" in r.stdout
    r = subprocess.run([TETHER, "version"], capture_output=True, text=True, timeout=30)
    assert r.stdout.startswith("tether ")


def test_users_cli_prints_token_once(tmp_path):
    env = _env(tmp_path)
    subprocess.run([TETHER, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    r = subprocess.run(
        [TETHER, "users", "create", "ops", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.strip().startswith("tth_")
    listed = subprocess.run(
        [TETHER, "tokens", "list"], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    secret = r.stdout.strip()
    assert secret not in listed and f"{secret[:8]}…" in listed


@pytest.mark.slow
def test_embedded_first_start_creates_local_admin(tmp_path):
    port = _free_port()
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [TETHER, "server", "--port", str(port), "--migrate", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/api/v1/health", timeout=1).ok:
                    break
            except requests.RequestException:  # refused, or accepted but not answered yet
                time.sleep(0.1)
        else:
            pytest.fail("server did not become healthy")
        creds = tmp_path / "creds.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        token = json.loads(creds.read_text())["servers"][url]["token"]
        me = requests.get(url + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.json()["role"] == "admin"
        assert requests.get(url + "/api/v1/experiments", timeout=5).status_code == 401
        assert requests.get(url + "/api/v1/openapi.json", timeout=5).json()["openapi"].startswith("3.")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert token in err  # printed once, on first start
