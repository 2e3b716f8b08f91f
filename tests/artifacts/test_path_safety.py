"""Every artifact route refuses traversal and odd paths with 400 (never 404/500, never a file read)."""

from __future__ import annotations

import pytest

from tether_server.errors import InvalidArgument
from tether_server.services.artifacts.files import check_path

A = "/api/v1/runs/{rid}/artifacts"

# (as it appears after URL decoding by the server)
BAD = [
    "../secret",
    "a/../../etc/passwd",
    "..",
    "a/..",
    "/etc/passwd",
    "a\\..\\b",
    "..\\x",
    "C:/windows",
    "a/\x00b",
    "a/\x1fb",
    "a/\x7f",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "a/%2e%2e",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "..%2fx",
    "..%5cx",
    "%2fetc/passwd",
    "a%00b",
    "%5c",
    "x/" + "a" * 300,
    "p" * 1001,
    # issue 10: what a proxy may read as "..", empty segments, scheme/drive-like first segments,
    # percent-escapes that are not UTF-8 (werkzeug would store them as U+FFFD)
    "..;/x",
    "a/..;jsessionid=1/b",
    ".. /x",
    "a/.. ./b",
    "a/.../b",
    "a/..%20/b",
    "a/..%3b/b",
    "a//b",
    "a//b/",
    "file:/etc/passwd",
    "s3:bucket/key",
    "c:x",
    "%ff%fe",
    "a/%c0%ae%c0%ae/b",
    "%25ff",
]
URL_BAD = [
    "..%2Fsecret",
    "a/%2E%2E/%2E%2E/etc",
    "%252e%252e%252fx",
    "a%5C..%5Cb",
    "%00x",
    "a/%0a",
    # issue 10, as raw URLs
    "%ff%fe",
    "a/%c0%ae%c0%ae/b",
    "..;/x",
    "a/..%3B/b",
    "a//b",
    "s3:x/y",
    "a/..%20%20/b",
]


@pytest.mark.parametrize("raw", BAD)
def test_check_path_rejects(raw):
    with pytest.raises(InvalidArgument):
        check_path(raw)


@pytest.mark.parametrize(
    "raw,canon",
    [
        ("a/./b", "a/b"),
        ("./x.txt", "x.txt"),
        ("with space/ü.png", "with space/ü.png"),
        ("a..b/c..", "a..b/c.."),
    ],
)
def test_check_path_canonicalises(raw, canon):
    assert check_path(raw) == canon


@pytest.fixture
def run_id(client, auth):
    eid = client.post("/api/v1/experiments", json={"name": "ps"}, headers=auth).json["id"]
    rid = client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]
    assert client.put(f"{A.format(rid=rid)}/ok.txt", data=b"ok", headers=auth).status_code == 201
    return rid


def _q(raw: str) -> str:
    from urllib.parse import quote

    return quote(raw, safe="/")


@pytest.mark.parametrize("raw", BAD)
def test_every_route_rejects_bad_paths(client, auth, run_id, raw):
    base = A.format(rid=run_id)
    enc = _q(raw)
    responses = {
        "upload": client.put(f"{base}/{enc}", data=b"x", headers=auth),
        "download": client.get(f"{base}/{enc}", headers=auth),
        "delete": client.delete(f"{base}/{enc}", headers=auth),
        "list": client.get(base, query_string={"prefix": raw}, headers=auth),
        "presign_download": client.post(f"{base}/downloads", json={"path": raw}, headers=auth),
        "presign_upload": client.post(
            f"{base}/uploads", json={"path": raw, "size": 1, "sha256": "0" * 64}, headers=auth
        ),
    }
    for route, r in responses.items():
        if route == "list" and raw.strip("/") == "":
            continue
        assert r.status_code == 400, (route, raw, r.status_code)
        assert r.json["error"]["code"] == "INVALID_ARGUMENT"
    assert [i["path"] for i in client.get(base, headers=auth).json["items"]] == ["ok.txt"]


@pytest.mark.parametrize("raw_url", URL_BAD)
def test_raw_encoded_urls_are_rejected(client, auth, run_id, raw_url):
    base = A.format(rid=run_id)
    for method in ("PUT", "GET", "DELETE"):
        r = client.open(f"{base}/{raw_url}", method=method, data=b"x", headers=auth)
        assert r.status_code == 400, (method, raw_url, r.status_code)
