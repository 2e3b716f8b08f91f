"""Artifact routes through the API on the local store (and the configured S3 store, see conftest)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from tests.conftest import bearer
from tether_server.runtime import Runtime

A = "/api/v1/runs/{rid}/artifacts"


@pytest.fixture
def run_id(client, auth):
    eid = client.post("/api/v1/experiments", json={"name": "art"}, headers=auth).json["id"]
    return client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]


def _put(client, auth, rid, path, data, **kw):
    return client.put(
        f"{A.format(rid=rid)}/{path}", data=data, headers={**auth, **kw.pop("headers", {})}, **kw
    )


def test_put_get_list_delete_flow(client, auth, run_id):
    data = os.urandom(300_000)
    r = _put(client, auth, run_id, "plots/loss.png", data, content_type="image/png")
    assert r.status_code == 201, r.json
    assert r.json["sha256"] == hashlib.sha256(data).hexdigest() and r.json["size"] == len(data)
    r = client.get(f"{A.format(rid=run_id)}/plots/loss.png", headers=auth)
    assert r.status_code == 200 and r.data == data
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert r.headers["Content-Type"] == "image/png"
    r = client.get(A.format(rid=run_id), headers=auth)
    assert [i["path"] for i in r.json["items"]] == ["plots/loss.png"]
    assert (
        r.json["items"][0]["sha256"] == hashlib.sha256(data).hexdigest() and r.json["items"][0]["mtime"] > 0
    )
    r = client.delete(f"{A.format(rid=run_id)}/plots/loss.png", headers=auth)
    assert r.status_code == 204
    assert client.get(f"{A.format(rid=run_id)}/plots/loss.png", headers=auth).status_code == 404
    assert client.get(A.format(rid=run_id), headers=auth).json["items"] == []


def test_range_and_conditional_requests(client, auth, run_id):
    data = bytes(range(256)) * 40
    _put(client, auth, run_id, "blob.bin", data)
    url = f"{A.format(rid=run_id)}/blob.bin"
    r = client.get(url, headers={**auth, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.data == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}" and r.headers["Content-Length"] == "10"
    r = client.get(url, headers={**auth, "Range": "bytes=-5"})
    assert r.status_code == 206 and r.data == data[-5:]
    r = client.get(url, headers={**auth, "Range": "bytes=100-"})
    assert r.status_code == 206 and r.data == data[100:]
    r = client.get(url, headers={**auth, "Range": f"bytes={len(data) + 5}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    etag = client.get(url, headers=auth).headers["ETag"]
    assert client.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304
    r = client.get(url, headers={**auth, "Range": "bytes=0-3", "If-Range": '"other"'})
    assert r.status_code == 200 and r.data == data


def test_list_prefix_and_paging(client, auth, run_id):
    for p in ["a/1", "a/2", "a/3", "b/1", "a_x"]:
        assert _put(client, auth, run_id, p, p.encode()).status_code == 201
    r = client.get(A.format(rid=run_id), query_string={"prefix": "a/"}, headers=auth)
    assert [i["path"] for i in r.json["items"]] == ["a/1", "a/2", "a/3"]
    seen, token = [], None
    while True:
        q = {"max_results": 2, **({"page_token": token} if token else {})}
        r = client.get(A.format(rid=run_id), query_string=q, headers=auth)
        seen += [i["path"] for i in r.json["items"]]
        token = r.json["next_page_token"]
        if not token:
            break
    assert seen == ["a/1", "a/2", "a/3", "a_x", "b/1"]


def test_existing_path_conflicts_and_sha_header_is_checked(client, auth, run_id):
    assert _put(client, auth, run_id, "m.bin", b"one").status_code == 201
    r = _put(client, auth, run_id, "m.bin", b"two")
    assert r.status_code == 409 and r.json["error"]["details"]["sha256"] == hashlib.sha256(b"one").hexdigest()
    r = _put(client, auth, run_id, "n.bin", b"x", headers={"X-Content-SHA256": "0" * 64})
    assert r.status_code == 400
    assert client.get(f"{A.format(rid=run_id)}/n.bin", headers=auth).status_code == 404
    r = _put(
        client, auth, run_id, "n.bin", b"x", headers={"X-Content-SHA256": hashlib.sha256(b"x").hexdigest()}
    )
    assert r.status_code == 201


def test_finished_run_accepts_deleted_run_refuses(client, auth, run_id):
    client.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED"}, headers=auth)
    assert _put(client, auth, run_id, "report.html", b"<html>").status_code == 201
    client.delete(f"/api/v1/runs/{run_id}", headers=auth)
    r = _put(client, auth, run_id, "late.txt", b"x")
    assert r.status_code == 409 and r.json["error"]["code"] == "FAILED_PRECONDITION"
    r = client.post(
        f"{A.format(rid=run_id)}/uploads", headers=auth, json={"path": "late2", "size": 1, "sha256": "0" * 64}
    )
    assert r.status_code == 409


def test_permissions(client, auth, users, run_id):
    _put(client, auth, run_id, "x", b"x")
    _uid, other = users.create("mallory", "writer")
    r = client.get(f"{A.format(rid=run_id)}/x", headers=bearer(other))
    assert r.status_code == 404
    assert _put(client, bearer(other), run_id, "y", b"y").status_code == 404
    _vid, viewer = users.create("val", "viewer")
    assert _put(client, bearer(viewer), run_id, "y", b"y").status_code == 403


def test_large_body_streams_past_max_content_length(client, auth, run_id, app):
    size = app.config["MAX_CONTENT_LENGTH"] + 3 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)
    data = chunk * (size // len(chunk)) + chunk[: size % len(chunk)]
    r = _put(client, auth, run_id, "big.bin", io.BytesIO(data), headers={"Content-Length": str(size)})
    assert r.status_code == 201, r.json
    assert r.json["sha256"] == hashlib.sha256(data).hexdigest()


def test_client_disconnect_leaves_no_row_and_no_object(client, auth, run_id, app, live_server):
    import socket
    import time
    from urllib.parse import urlsplit

    u = urlsplit(live_server)
    sock = socket.create_connection((u.hostname, u.port))
    head = (
        f"PUT /api/v1/runs/{run_id}/artifacts/cut.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Length: 50000000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"x" * 3_000_000)
    time.sleep(0.3)
    sock.close()  # the client goes away mid-upload
    store = Runtime.of(app).store
    for _ in range(50):
        time.sleep(0.1)
        if not [o for o in store.list("")] and not any(store.root.rglob("*.part")):
            break
    assert client.get(A.format(rid=run_id), headers=auth).json["items"] == []
    assert [o.key for o in store.list("")] == []
    assert not list(store.root.rglob("*.part"))
