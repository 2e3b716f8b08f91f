"""The artifact API on S3 (moto_server, and a real S3 server when configured): presigned direct
multipart uploads with size/sha256 checks, presigned downloads, aborts, and 503 when the store is down."""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import urlsplit

import pytest
import requests

from tests.artifacts.tcp_proxy import TcpProxy
from tether_server.errors import NotFound
from tether_server.models import Upload
from tether_server.runtime import Runtime

A = "/api/v1/runs/{rid}/artifacts"


@pytest.fixture
def proxy(s3_overrides):
    ep = urlsplit(s3_overrides["s3_endpoint"])
    p = TcpProxy(ep.hostname, ep.port)
    yield p
    p.close()


@pytest.fixture
def settings(tmp_path, database_url, s3_overrides, proxy):
    from tether_server.config import Settings

    return Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key="test-secret",
        testing=True,
        webhook_worker=False,
        **{**s3_overrides, "s3_endpoint": f"http://127.0.0.1:{proxy.port}"},
    ).validated()


@pytest.fixture
def run_id(client, auth):
    eid = client.post("/api/v1/experiments", json={"name": "s3"}, headers=auth).json["id"]
    return client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]


def _start(client, auth, rid, path, data, part_size=5 * 1024 * 1024):
    return client.post(
        f"{A.format(rid=rid)}/uploads",
        headers=auth,
        json={
            "path": path,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "part_size": part_size,
        },
    )


def test_proxied_put_get_range_on_s3(client, auth, run_id, app):
    data = os.urandom(6 * 1024 * 1024 + 5)
    r = client.put(f"{A.format(rid=run_id)}/w.bin", data=data, headers=auth)
    assert r.status_code == 201, r.json
    r = client.get(f"{A.format(rid=run_id)}/w.bin", headers={**auth, "Range": "bytes=5-9"})
    assert r.status_code == 206 and r.data == data[5:10]
    assert client.get(f"{A.format(rid=run_id)}/w.bin", headers=auth).data == data
    keys = [o.key for o in Runtime.of(app).store.list("")]
    assert len(keys) == 1 and re.fullmatch(
        rf"{r_exp(client, auth, run_id)}/{run_id}/artifacts/w\.bin~[0-9a-f]{{16}}", keys[0]
    )


def r_exp(client, auth, rid):
    return client.get(f"/api/v1/runs/{rid}", headers=auth).json["experiment_id"]


def test_direct_multipart_upload_resume_and_download(client, auth, run_id):
    data = os.urandom(11 * 1024 * 1024)
    r = _start(client, auth, run_id, "model/weights.bin", data)
    assert r.status_code == 201, r.json
    up = r.json
    assert up["mode"] == "direct" and up["part_count"] == 3 and len(up["parts"]) == 3
    ps = up["part_size"]
    first = up["parts"][0]
    assert requests.put(first["url"], data=data[:ps], timeout=30).status_code == 200
    # resume: the server reports part 1 done and re-signs only the missing ones
    r = client.get(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}", headers=auth)
    assert r.json["parts_done"] == [1] and [p["part_number"] for p in r.json["parts"]] == [2, 3]
    for p in r.json["parts"]:
        n = p["part_number"]
        assert requests.put(p["url"], data=data[(n - 1) * ps : n * ps], timeout=30).status_code == 200
    assert client.get(A.format(rid=run_id), headers=auth).json["items"] == []  # no row before completion
    r = client.post(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/complete", headers=auth)
    assert r.status_code == 200, r.json
    assert r.json["artifact"]["sha256"] == hashlib.sha256(data).hexdigest()
    r = client.post(f"{A.format(rid=run_id)}/downloads", headers=auth, json={"path": "model/weights.bin"})
    assert r.json["mode"] == "direct"
    got = requests.get(r.json["url"], timeout=30)
    assert got.status_code == 200 and got.content == data


def test_direct_upload_with_wrong_content_is_refused_and_removed(client, auth, run_id, app):
    data = os.urandom(1000)
    up = _start(client, auth, run_id, "bad.bin", data).json
    requests.put(up["parts"][0]["url"], data=b"y" * 1000, timeout=30)
    r = client.post(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/complete", headers=auth)
    assert r.status_code == 400
    assert client.get(A.format(rid=run_id), headers=auth).json["items"] == []
    assert list(Runtime.of(app).store.list("")) == []


def test_abort_removes_parts(client, auth, run_id, app, db_session):
    data = os.urandom(6 * 1024 * 1024)
    up = _start(client, auth, run_id, "gone.bin", data).json
    requests.put(up["parts"][0]["url"], data=data[: up["part_size"]], timeout=30)
    r = client.post(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/abort", headers=auth)
    assert r.status_code == 200 and r.json["status"] == "aborted"
    store = Runtime.of(app).store
    row = db_session.get(Upload, up["upload_id"])
    assert row.storage_key.startswith(f"{r_exp(client, auth, run_id)}/{run_id}/artifacts/gone.bin~")
    with pytest.raises(NotFound):
        store.multipart_parts(row.storage_key, row.s3_upload_id)
    r = client.post(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/complete", headers=auth)
    assert r.status_code == 409


def test_store_down_gives_503_and_metadata_keeps_working(client, auth, run_id, proxy):
    assert client.put(f"{A.format(rid=run_id)}/a.txt", data=b"a", headers=auth).status_code == 201
    proxy.stop()  # the gateway goes away mid-test
    for r in (
        client.put(f"{A.format(rid=run_id)}/b.txt", data=b"b", headers=auth),
        client.get(f"{A.format(rid=run_id)}/a.txt", headers=auth),
        _start(client, auth, run_id, "c.bin", b"c"),
    ):
        assert r.status_code == 503, r.json
        assert r.json["error"]["code"] == "UNAVAILABLE" and int(r.headers["Retry-After"]) > 0
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).status_code == 200
    assert [i["path"] for i in client.get(A.format(rid=run_id), headers=auth).json["items"]] == ["a.txt"]
    proxy.start()
    assert client.get(f"{A.format(rid=run_id)}/a.txt", headers=auth).data == b"a"


def test_sdk_uses_direct_mode_on_s3(live_server, writer, run_id, tmp_path):
    from tests.conftest import bearer
    from tether._artifacts import ArtifactTransfer

    s = requests.Session()
    s.headers.update(bearer(writer[1]))
    sdk = ArtifactTransfer(s, live_server, progress=False, multipart_threshold=1024 * 1024)
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024))
    assert sdk.upload_file(run_id, src, "w.bin")["size"] == src.stat().st_size
    assert sdk.download(run_id, "w.bin", tmp_path / "back.bin").read_bytes() == src.read_bytes()
