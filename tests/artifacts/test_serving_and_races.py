"""Stored files are always served as downloads that cannot render as pages; two uploads racing for
one new path never leave the recorded sha256 pointing at someone else's bytes (local store and S3)."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest
import requests

from tests.conftest import bearer
from tether_server.runtime import Runtime
from tether_server.services.artifacts import files as svc

A = "/api/v1/runs/{rid}/artifacts"


@pytest.fixture(params=["local", "moto"])
def settings(request: pytest.FixtureRequest, tmp_path, database_url) -> Any:
    from tether_server.config import Settings

    store: dict[str, Any] = {"artifact_uri": str(tmp_path / "artifacts")}
    if request.param == "moto":
        from tests.artifacts.conftest import s3_settings

        store = s3_settings("moto", request.getfixturevalue("moto_endpoint"))
    return Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key="test-secret",
        testing=True,
        webhook_worker=False,
        **store,
    ).validated()


@pytest.fixture
def run_id(client, auth):
    eid = client.post("/api/v1/experiments", json={"name": "serve"}, headers=auth).json["id"]
    return client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]


@pytest.mark.parametrize(
    ("name", "declared", "body"),
    [
        ("page.html", "text/html; charset=utf-8", b"<html><script>alert(1)</script></html>"),
        ("x.xhtml", "application/xhtml+xml", b"<html xmlns='http://www.w3.org/1999/xhtml'><script/></html>"),
        (
            "logo.svg",
            "image/svg+xml",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        ),
        ("app.js", "application/javascript", b"alert(document.cookie)"),
        ("mod.mjs", "text/javascript", b"export default 1"),
        ("feed.xml", "text/xml", b"<?xml version='1.0'?><a/>"),
        ("no-type.html", None, b"<script>alert(1)</script>"),
        ("odd", 'text/html;;x="<b>"', b"x"),
        ("bad", "not a type", b"<b>x</b>"),
    ],
)
def test_active_content_is_served_as_an_inert_download(client, auth, run_id, name, declared, body):
    headers = {**auth, **({"Content-Type": declared} if declared else {})}
    r = client.put(f"{A.format(rid=run_id)}/web/{name}", data=body, headers=headers)
    assert r.status_code == 201, r.json
    r = client.get(f"{A.format(rid=run_id)}/web/{name}", headers=auth)
    assert r.status_code == 200 and r.data == body
    ctype = r.headers["Content-Type"].lower()
    assert not any(w in ctype for w in ("html", "svg", "xml", "javascript", "script")), ctype
    assert ctype in ("application/octet-stream", "text/plain")
    assert r.headers["Content-Disposition"] == f"attachment; filename*=UTF-8''{name}"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_safe_types_are_kept_and_names_are_quoted(client, auth, run_id):
    r = client.put(
        f'{A.format(rid=run_id)}/plots/loss curve ü;".png',
        data=b"\x89PNG",
        headers={**auth, "Content-Type": "image/png"},
    )
    assert r.status_code == 201 and r.json["content_type"] == "image/png"
    r = client.get(f'{A.format(rid=run_id)}/plots/loss curve ü;".png', headers=auth)
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"] == "attachment; filename*=UTF-8''loss%20curve%20%C3%BC%3B%22.png"
    r = client.get(f'{A.format(rid=run_id)}/plots/loss curve ü;".png', headers={**auth, "Range": "bytes=0-1"})
    assert r.status_code == 206 and r.headers["Content-Disposition"].startswith("attachment")


def test_multipart_upload_records_the_declared_content_type(client, auth, run_id):
    data = b"a,b\n1,2\n"
    sha = hashlib.sha256(data).hexdigest()
    up = client.post(
        f"{A.format(rid=run_id)}/uploads",
        headers=auth,
        json={"path": "t.csv", "size": len(data), "sha256": sha},
    ).json
    if up["mode"] == "direct":
        assert requests.put(up["parts"][0]["url"], data=data, timeout=30).status_code == 200
    else:
        r = client.put(f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/parts/1", data=data, headers=auth)
        assert r.status_code == 200
    r = client.post(
        f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/complete",
        headers=auth,
        json={"content_type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200 and r.json["artifact"]["content_type"] == "text/csv"
    assert client.get(f"{A.format(rid=run_id)}/t.csv", headers=auth).headers["Content-Type"] == "text/csv"


@pytest.mark.parametrize(
    "at_start,at_complete,want",
    [
        ("image/png", None, "image/png"),  # given when starting: kept until completion
        ("image/png", "text/plain", "text/plain"),  # completion overrides
        (None, None, "application/octet-stream"),  # neither: the safe default
        ("text/html", None, "text/html"),  # recorded as declared, never served as a page
    ],
)
def test_upload_content_type_from_start_or_complete(client, auth, run_id, at_start, at_complete, want):
    data = b"\x89PNG...."
    body = {
        "path": f"img-{want.replace('/', '-')}-{bool(at_complete)}",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **({"content_type": at_start} if at_start else {}),
    }
    up = client.post(f"{A.format(rid=run_id)}/uploads", headers=auth, json=body).json
    if up["mode"] == "direct":
        assert requests.put(up["parts"][0]["url"], data=data, timeout=30).status_code == 200
    else:
        assert (
            client.put(
                f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/parts/1", data=data, headers=auth
            ).status_code
            == 200
        )
    r = client.post(
        f"{A.format(rid=run_id)}/uploads/{up['upload_id']}/complete",
        headers=auth,
        json={"content_type": at_complete} if at_complete else {},
    )
    assert r.status_code == 200 and r.json["artifact"]["content_type"] == want
    served = client.get(f"{A.format(rid=run_id)}/{body['path']}", headers=auth).headers["Content-Type"]
    assert served == (want if want != "text/html" else "application/octet-stream")


def test_racing_puts_to_one_new_path_keep_the_winners_bytes(app, live_server, writer, run_id, monkeypatch):
    """Both requests pass the "path is free" check before either stores a byte; then both store."""
    gate = threading.Barrier(2, timeout=20)
    real = svc.new_upload_target

    def both_checked(*args: Any, **kw: Any) -> Any:
        target = real(*args, **kw)
        gate.wait()
        return target

    monkeypatch.setattr(svc, "new_upload_target", both_checked)
    bodies = [os.urandom(700_000), os.urandom(700_001)]
    results: list[Any] = [None, None]

    def put(i: int) -> None:
        with requests.Session() as s:
            results[i] = s.put(
                f"{live_server}{A.format(rid=run_id)}/same.bin",
                data=bodies[i],
                headers=bearer(writer[1]),
                timeout=60,
            )

    threads = [threading.Thread(target=put, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [r.text for r in results]
    winner = next(i for i, r in enumerate(results) if r.status_code == 201)
    monkeypatch.setattr(svc, "new_upload_target", real)
    h = bearer(writer[1])
    listed = requests.get(f"{live_server}{A.format(rid=run_id)}", headers=h, timeout=30).json()["items"]
    assert [(i["path"], i["sha256"]) for i in listed] == [
        ("same.bin", hashlib.sha256(bodies[winner]).hexdigest())
    ]
    got = requests.get(f"{live_server}{A.format(rid=run_id)}/same.bin", headers=h, timeout=30)
    assert got.content == bodies[winner]
    store = Runtime.of(app).store
    assert len(list(store.list(""))) == 1  # the loser's object is gone, the winner's is intact


def test_registry_files_are_served_as_inert_downloads_too(client, auth, run_id):
    r = client.put(
        f"{A.format(rid=run_id)}/model/index.html",
        data=b"<script>alert(1)</script>",
        headers={**auth, "Content-Type": "text/html"},
    )
    assert r.status_code == 201
    assert client.post("/api/v1/models", json={"name": "inert"}, headers=auth).status_code == 201
    r = client.post(
        "/api/v1/models/inert/versions", json={"run_id": run_id, "artifact_path": "model"}, headers=auth
    )
    assert r.status_code == 201, r.json
    r = client.get(f"/api/v1/models/inert/versions/{r.json['version']}/files/index.html", headers=auth)
    assert r.status_code == 200 and r.data == b"<script>alert(1)</script>"
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == "attachment; filename*=UTF-8''index.html"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
