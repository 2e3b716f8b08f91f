"""The local artifact store's disk fills up: a real tmpfs of 2 MiB mounted by the test (root only).

Promises: a full disk answers 507 INSUFFICIENT_STORAGE (never 500), stores no row and leaves no partial
file; artifacts stored before stay readable; freeing space makes uploads work again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Users, bearer
from tether_server import create_app
from tether_server.config import Settings
from tether_server.runtime import Runtime

from .workload import blob

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"mount refused here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def full_app(tmp_path: Path, small_disk: Path, sqlite_template: Path) -> Iterator[Any]:
    import shutil

    shutil.copy(sqlite_template, tmp_path / "tether.db")
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        database_url=f"sqlite:///{tmp_path / 'tether.db'}",
        artifact_uri=str(small_disk / "artifacts"),
        secret_key="test-secret",
        testing=True,
        webhook_worker=False,
    ).validated()
    app = create_app(settings)
    app.config["TETHER_ACCESS_LOG"] = False
    yield app
    Runtime.of(app).close()


def test_full_disk_answers_507_and_keeps_what_was_stored(full_app: Any, small_disk: Path) -> None:
    client = full_app.test_client()
    h = bearer(Users(full_app).create("w", "writer")[1])
    exp = client.post("/api/v1/experiments", json={"name": "disk"}, headers=h).json["id"]
    run = client.post("/api/v1/runs", json={"experiment_id": exp}, headers=h).json["id"]
    stored: dict[str, str] = {}
    full = None
    for n in range(40):  # 300 KiB each: the 2 MiB disk is full after a handful
        data = blob(f"d{n}", 300 * 1024)
        r = client.put(f"/api/v1/runs/{run}/artifacts/f{n}.bin", data=data, headers=h)
        if r.status_code == 201:
            stored[f"f{n}.bin"] = hashlib.sha256(data).hexdigest()
            continue
        full = r
        break
    assert full is not None, "the disk never filled"
    assert full.status_code == 507, full.get_data(as_text=True)
    assert full.json["error"]["code"] == "INSUFFICIENT_STORAGE" and full.headers.get("Retry-After")
    assert 3 <= len(stored) < 10
    # another upload and a multipart part hit the same wall, still cleanly
    assert (
        client.put(
            f"/api/v1/runs/{run}/artifacts/again.bin", data=blob("x", 300 * 1024), headers=h
        ).status_code
        == 507
    )

    # nothing half-written: no temp files, no row without its object, no object without its row
    leftovers = [p for p in small_disk.rglob("*") if p.is_file() and p.name.endswith(".part")]
    assert leftovers == []
    listed = client.get(f"/api/v1/runs/{run}/artifacts", headers=h).json["items"]
    assert {a["path"] for a in listed if a.get("size") is not None} == set(stored)
    objects = [p for p in (small_disk / "artifacts").rglob("*") if p.is_file()]
    assert len(objects) == len(stored)
    for path, sha in stored.items():
        r = client.get(f"/api/v1/runs/{run}/artifacts/{path}", headers=h)
        assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == sha

    # the server degrades, it does not break: reads and metric logging go on, and freeing space helps
    assert (
        client.post(
            f"/api/v1/runs/{run}/batch", json={"metrics": [{"key": "m", "value": 1, "step": 1}]}, headers=h
        ).status_code
        == 200
    )
    for path in list(stored)[:3]:
        assert client.delete(f"/api/v1/runs/{run}/artifacts/{path}", headers=h).status_code in (200, 204)
    r = client.put(f"/api/v1/runs/{run}/artifacts/after.bin", data=blob("after", 300 * 1024), headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)
