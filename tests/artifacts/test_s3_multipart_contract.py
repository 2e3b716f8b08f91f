"""Contract of ``storage.s3_multipart``: each S3 multipart call, signed with minio's public
``get_presigned_url``, against moto and the real S3 server (Ceph RGW on CI)."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
import urllib3

from tests.artifacts.conftest import s3_settings
from tether_server.config import Settings
from tether_server.errors import InvalidArgument, NotFound
from tether_server.storage.s3 import S3Store, translate
from tether_server.storage.s3_multipart import S3CallError

MIB5 = 5 * 1024 * 1024
GONE = {"NoSuchUpload", "NoSuchKey"}  # ListParts on an unknown upload: AWS and moto / Ceph RGW


@pytest.fixture(params=["moto", pytest.param("real", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> S3Store:
    overrides = s3_settings(request.param, request.getfixturevalue("moto_endpoint"))
    s = S3Store.from_settings(Settings(data_dir=str(tmp_path), **overrides))
    s._ensure_bucket()
    return s


def put_part(store: S3Store, key: str, upload_id: str, n: int, data: bytes) -> str:
    url = store.multipart.part_url(key, upload_id, n, timedelta(minutes=5))
    resp = urllib3.PoolManager().request("PUT", url, body=data)
    assert resp.status == 200, resp.data[:300]
    return (resp.headers.get("ETag") or "").strip('"')


def test_create_list_complete(store: S3Store) -> None:
    mp, key = store.multipart, store._k("c/obj.bin")
    uid = mp.create(key)
    assert uid and mp.list_parts(key, uid) == []
    chunks = [os.urandom(MIB5), os.urandom(MIB5), b"tail"]
    etags = [put_part(store, key, uid, n, d) for n, d in enumerate(chunks, 1)]
    listed = mp.list_parts(key, uid)
    assert [(p.part_number, p.etag, p.size) for p in listed] == [
        (n, e, len(d)) for n, (e, d) in enumerate(zip(etags, chunks, strict=True), 1)
    ]
    assert mp.list_parts(key, uid, page_size=1) == listed  # follows NextPartNumberMarker
    assert isinstance(mp.complete(key, uid, [(p.part_number, p.etag) for p in listed]), str)  # "" on Ceph
    body = store.open("c/obj.bin")
    got = hashlib.sha256(b"".join(body)).hexdigest()
    body.close()
    assert got == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert store.stat("c/obj.bin").size == sum(map(len, chunks))


def test_abort_removes_the_upload(store: S3Store) -> None:
    mp, key = store.multipart, store._k("a/obj.bin")
    uid = mp.create(key)
    put_part(store, key, uid, 1, b"x" * 1024)
    mp.abort(key, uid)
    with pytest.raises(S3CallError) as e:
        mp.list_parts(key, uid)
    assert e.value.code in GONE and e.value.status == 404
    with pytest.raises(NotFound):
        store.stat("a/obj.bin")
    store.multipart_abort("a/obj.bin", uid)  # aborting twice is not an error at the store level


@pytest.mark.parametrize("call", ["list", "abort"])
def test_unknown_upload_is_not_found(store: S3Store, call: str) -> None:
    mp, key = store.multipart, store._k("u/obj.bin")
    with pytest.raises(S3CallError) as e:
        if call == "list":
            mp.list_parts(key, "no-such-upload")
        else:
            mp.abort(key, "no-such-upload")
    assert e.value.code in GONE
    assert isinstance(translate(e.value), NotFound)
    with pytest.raises(NotFound):  # the store lists the parts before it completes
        store.multipart_complete("u/obj.bin", "no-such-upload", 1)


def test_complete_with_a_wrong_etag_is_invalid_part(store: S3Store) -> None:
    mp, key = store.multipart, store._k("w/obj.bin")
    uid = mp.create(key)
    put_part(store, key, uid, 1, b"data")
    with pytest.raises(S3CallError) as e:
        mp.complete(key, uid, [(1, "0" * 32)])
    assert e.value.code == "InvalidPart"
    assert isinstance(translate(e.value), InvalidArgument)
    mp.abort(key, uid)


def test_store_level_multipart_uses_these_calls(store: S3Store) -> None:
    """multipart_start/put_part/parts/complete on top of the module, as the artifact API uses them."""
    data = os.urandom(MIB5 + 10)
    uid = store.multipart_start("s/obj.bin")
    import io

    store.multipart_put_part("s/obj.bin", uid, 2, io.BytesIO(data[MIB5:]), 10)
    with pytest.raises(InvalidArgument):  # part 1 is missing
        store.multipart_complete("s/obj.bin", uid, 2)
    store.multipart_put_part("s/obj.bin", uid, 1, io.BytesIO(data[:MIB5]), MIB5)
    assert store.multipart_parts("s/obj.bin", uid) == {1: MIB5, 2: 10}
    assert store.multipart_complete("s/obj.bin", uid, 2).size == len(data)
