"""SDK transfers against a live server (proxied on local, direct on S3), resume, verify; tether gc."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import requests
from click.testing import CliRunner

from tests.conftest import bearer
from tether._artifacts import ArtifactError, ArtifactTransfer
from tether_server.cli import main as cli
from tether_server.runtime import Runtime
from tether_server.services.artifacts.gc import collect


@pytest.fixture
def sdk(live_server, writer):
    s = requests.Session()
    s.headers.update(bearer(writer[1]))
    return ArtifactTransfer(s, live_server, progress=False, multipart_threshold=1024 * 1024, workers=3)


@pytest.fixture
def run_id(client, auth):
    eid = client.post("/api/v1/experiments", json={"name": "sdk"}, headers=auth).json["id"]
    return client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]


def test_small_and_multipart_uploads_roundtrip(sdk, run_id, tmp_path):
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello")
    big.write_bytes(os.urandom(40 * 1024 * 1024 + 3))  # multipart, several 16 MiB parts
    assert sdk.upload_file(run_id, small)["sha256"] == hashlib.sha256(b"hello").hexdigest()
    art = sdk.upload_file(run_id, big, "model/big.bin")
    assert art["size"] == big.stat().st_size
    out = sdk.download(run_id, "model/big.bin", tmp_path / "dl")
    assert out.read_bytes() == big.read_bytes()
    assert sdk.upload_file(run_id, small)["path"] == "small.txt"  # same content again: fine


def test_log_dir(sdk, run_id, tmp_path, client, auth):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_bytes(b"a")
    (d / "sub" / "b.txt").write_bytes(b"b")
    sdk.upload_dir(run_id, d, "outputs")
    items = client.get(f"/api/v1/runs/{run_id}/artifacts", headers=auth).json["items"]
    assert [i["path"] for i in items] == ["outputs/a.txt", "outputs/sub/b.txt"]


def test_resume_sends_only_missing_parts(sdk, run_id, tmp_path, client, auth):
    data = os.urandom(3 * 1024 * 1024)
    src = tmp_path / "r.bin"
    src.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    up = client.post(
        f"/api/v1/runs/{run_id}/artifacts/uploads",
        headers=auth,
        json={"path": "r.bin", "size": len(data), "sha256": sha, "part_size": 1024 * 1024},
    ).json
    r = client.put(
        f"/api/v1/runs/{run_id}/artifacts/uploads/{up['upload_id']}/parts/1",
        data=data[: 1024 * 1024],
        headers=auth,
    )
    assert r.status_code == 200
    sent = []
    orig = sdk._send_parts
    sdk._send_parts = lambda rid, u, s, p, n, missing, bar: (
        sent.extend(m for m, _ in missing),
        orig(rid, u, s, p, n, missing, bar),
    )
    state = client.get(f"/api/v1/runs/{run_id}/artifacts/uploads/{up['upload_id']}", headers=auth).json
    assert state["parts_done"] == [1]
    sdk._send_parts(run_id, state, src, up["part_size"], len(data), sdk._missing_parts(run_id, state), None)
    assert sent == [2, 3]
    r = client.post(f"/api/v1/runs/{run_id}/artifacts/uploads/{up['upload_id']}/complete", headers=auth)
    assert r.status_code == 200 and r.json["artifact"]["sha256"] == sha


def test_download_verifies_sha(sdk, run_id, tmp_path, app):
    (tmp_path / "v.txt").write_bytes(b"original")
    sdk.upload_file(run_id, tmp_path / "v.txt")
    store = Runtime.of(app).store
    key = next(o.key for o in store.list(""))
    store.put_stream(key, io.BytesIO(b"tampered"), 8)  # the object changes behind the server's back
    with pytest.raises(ArtifactError):
        sdk.download(run_id, "v.txt", tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_gc_removes_orphans_and_objects_of_hard_deleted_runs(
    app, client, auth, run_id, db_session, settings, monkeypatch
):
    client.put(f"/api/v1/runs/{run_id}/artifacts/keep.txt", data=b"k", headers=auth)
    store = Runtime.of(app).store
    exp = client.get(f"/api/v1/runs/{run_id}", headers=auth).json["experiment_id"]
    store.put_stream(f"{exp}/{run_id}/artifacts/orphan.bin", io.BytesIO(b"o"), 1)
    store.put_stream(f"{exp}/0123456789abcdef0123456789abcdef/artifacts/x", io.BytesIO(b"x"), 1)
    rep = collect(db_session, store, grace_ms=0, dry_run=True)
    assert rep.orphans == [f"{exp}/{run_id}/artifacts/orphan.bin"]
    assert rep.deleted_run_objects == [f"{exp}/0123456789abcdef0123456789abcdef/artifacts/x"]
    assert len(list(store.list(""))) == 3  # dry run removed nothing
    for k, v in {
        "TETHER_DATABASE_URL": settings.database_url,
        "TETHER_ARTIFACT_URI": settings.artifact_uri,
        "TETHER_DATA_DIR": settings.data_dir,
    }.items():
        monkeypatch.setenv(k, v)
    res = CliRunner().invoke(cli, ["gc", "--grace-minutes", "0"])
    assert res.exit_code == 0, res.output
    assert "removed 1 orphans, 1 objects of deleted runs" in res.output
    kept = [o.key for o in store.list("")]
    assert len(kept) == 1 and kept[0].startswith(f"{exp}/{run_id}/artifacts/keep.txt~")
