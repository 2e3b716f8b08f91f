"""Downloads under a real gunicorn server, for every store (storage/zerocopy.py: local files go out
with sendfile, S3 bodies are streamed). The bytes must be exactly the object's (whole, ranged,
repeated on one keep-alive connection, concurrent, after clients hang up), and the sendfile choice
itself is checked so a silent fallback to copying cannot pass unnoticed."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tether_server.config import Settings
from tether_server.storage import store_from_settings, zerocopy

from .conftest import _free_port, s3_settings

TETHER = str(Path(sys.executable).parent / "tether")
MiB = 1024 * 1024


def _blob(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n)


def _store_env(kind: str, moto_endpoint: str) -> dict[str, str]:
    if kind == "local":
        return {}
    return {f"TETHER_{k.upper()}": v for k, v in s3_settings(kind, moto_endpoint).items()}


@pytest.fixture(params=["local", "moto", pytest.param("real", marks=pytest.mark.s3)])
def gunicorn_server(
    request: pytest.FixtureRequest, moto_endpoint: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    store_env = _store_env(request.param, moto_endpoint)
    token = "tth_" + "z" * 40
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        TETHER_DATA_DIR=str(tmp_path / "data"),
        TETHER_CREDENTIALS_FILE=str(tmp_path / "creds.json"),
        TETHER_ADMIN_TOKEN=token,
        **store_env,
    )
    proc = subprocess.Popen(
        [TETHER, "server", "--port", str(port), "--migrate", "--workers", "1", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/api/v1/health", timeout=1).ok:
                    break
            except requests.RequestException:  # refused, or accepted but not answered yet
                pass
            time.sleep(0.1)
        else:
            pytest.fail("server did not become ready")
        yield url, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def test_large_downloads_are_exact_whole_ranged_repeated_and_concurrent(
    gunicorn_server: tuple[str, str],
) -> None:
    url, token = gunicorn_server
    h = {"Authorization": f"Bearer {token}"}
    exp = requests.post(f"{url}/api/v1/experiments", json={"name": "zc"}, headers=h, timeout=10).json()["id"]
    run = requests.post(f"{url}/api/v1/runs", json={"experiment_id": exp}, headers=h, timeout=10).json()["id"]
    big, other = _blob(9 * MiB + 12345, 1), _blob(6 * MiB, 2)
    for name, data in (("big.bin", big), ("other.bin", other), ("small.bin", b"tiny")):
        r = requests.put(f"{url}/api/v1/runs/{run}/artifacts/{name}", data=data, headers=h, timeout=60)
        assert r.status_code == 201, r.text
    art = f"{url}/api/v1/runs/{run}/artifacts"
    with requests.Session() as s:  # one keep-alive connection: each response must end exactly
        for _ in range(3):
            r = s.get(f"{art}/big.bin", headers=h, timeout=60)
            assert r.status_code == 200 and r.content == big
            assert r.headers["Content-Length"] == str(len(big))
            assert s.get(f"{art}/small.bin", headers=h, timeout=60).content == b"tiny"
        r = s.get(f"{art}/big.bin", headers={**h, "Range": "bytes=1000-8000999"}, timeout=60)
        assert r.status_code == 206 and r.content == big[1000:8001000]
        r = s.get(f"{art}/big.bin", headers={**h, "Range": "bytes=-5000000"}, timeout=60)
        assert r.status_code == 206 and r.content == big[-5000000:]
        r = s.head(f"{art}/big.bin", headers=h, timeout=60)
        assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == str(len(big))
        assert s.get(f"{art}/other.bin", headers=h, timeout=60).content == other

    def fetch(name: str) -> str:
        return hashlib.sha256(requests.get(f"{art}/{name}", headers=h, timeout=60).content).hexdigest()

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(fetch, ["big.bin", "other.bin"] * 4))
    assert got == [hashlib.sha256(big).hexdigest(), hashlib.sha256(other).hexdigest()] * 4


def test_client_that_hangs_up_mid_body_does_not_wedge_the_worker(gunicorn_server: tuple[str, str]) -> None:
    url, token = gunicorn_server
    h = {"Authorization": f"Bearer {token}"}
    exp = requests.post(f"{url}/api/v1/experiments", json={"name": "zc2"}, headers=h, timeout=10).json()["id"]
    run = requests.post(f"{url}/api/v1/runs", json={"experiment_id": exp}, headers=h, timeout=10).json()["id"]
    data = _blob(32 * MiB, 3)
    assert requests.put(f"{url}/api/v1/runs/{run}/artifacts/d.bin", data=data, headers=h, timeout=60).ok
    for _ in range(6):  # more hang-ups than the worker has threads
        with requests.get(
            f"{url}/api/v1/runs/{run}/artifacts/d.bin", headers=h, stream=True, timeout=60
        ) as r:
            assert len(r.raw.read(64 * 1024)) == 64 * 1024
    r = requests.get(f"{url}/api/v1/runs/{run}/artifacts/d.bin", headers=h, timeout=60)
    assert r.content == data


# ---------------------------------------------------------------- the path choice


def test_serve_uses_sendfile_only_for_large_local_gets_under_plain_gunicorn(tmp_path: Path) -> None:
    store = store_from_settings(Settings(data_dir=str(tmp_path)))
    data = _blob(5 * MiB, 5)
    store.put_stream("a/b", iter_io(data), len(data))
    store.put_stream("a/small", iter_io(b"x" * 100), 100)

    class FileWrapper:
        def __init__(self, f: Any, size: int) -> None:
            self.filelike = f

    with socket.socket() as sock:
        env = {"REQUEST_METHOD": "GET", "gunicorn.socket": sock, "wsgi.file_wrapper": FileWrapper}
        out = zerocopy.serve(store.open("a/b", 4096), env, len(data) - 4096)
        assert isinstance(out, FileWrapper) and out.filelike.tell() == 4096
        out.filelike.close()
        for environ, key, n in (
            ({**env, "REQUEST_METHOD": "HEAD"}, "a/b", len(data)),
            ({k: v for k, v in env.items() if k != "gunicorn.socket"}, "a/b", len(data)),
            (env, "a/small", 100),
        ):
            body = store.open(key)
            out = zerocopy.serve(body, environ, n)
            assert out is body and b"".join(out) == (data if key == "a/b" else b"x" * 100)


def iter_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _drain(sock: socket.socket, into: bytearray, n: int) -> None:
    while len(into) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        into += chunk
