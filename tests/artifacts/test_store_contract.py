"""The same contract for every ArtifactStore backend: local, moto_server and a real S3 server."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from tests.artifacts.conftest import s3_settings
from tether_server.config import Settings
from tether_server.errors import InvalidArgument, NotFound
from tether_server.storage import store_from_settings


@pytest.fixture(params=["local", "moto", pytest.param("real", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        return store_from_settings(Settings(data_dir=str(tmp_path), artifact_uri=str(tmp_path / "a")))
    overrides = s3_settings(request.param, request.getfixturevalue("moto_endpoint"))
    return store_from_settings(Settings(data_dir=str(tmp_path), **overrides))


class Unsized(io.RawIOBase):
    """A stream whose length is unknown up front (forces multipart on S3)."""

    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.buf.read(n)


def test_put_stat_open_list_delete(store):
    data = os.urandom(200_000)
    obj = store.put_stream("1/r/artifacts/a/b.bin", io.BytesIO(data), len(data))
    assert obj.size == len(data) and obj.etag
    assert store.stat("1/r/artifacts/a/b.bin").size == len(data)
    assert b"".join(store.open("1/r/artifacts/a/b.bin")) == data
    assert b"".join(store.open("1/r/artifacts/a/b.bin", 100, 199)) == data[100:200]
    store.put_stream("1/r/artifacts/c", io.BytesIO(b"c"), 1)
    store.put_stream("2/q/artifacts/c", io.BytesIO(b"c"), 1)
    assert sorted(o.key for o in store.list("1/")) == ["1/r/artifacts/a/b.bin", "1/r/artifacts/c"]
    store.delete("1/r/artifacts/a/b.bin")
    with pytest.raises(NotFound):
        store.stat("1/r/artifacts/a/b.bin")
    store.delete("1/r/artifacts/a/b.bin")  # idempotent


def test_unknown_length_uses_multipart(store):
    data = os.urandom(12 * 1024 * 1024 + 17)
    obj = store.put_stream("k/unsized", Unsized(data), None)
    assert obj.size == len(data)
    h = hashlib.sha256(b"".join(store.open("k/unsized"))).hexdigest()
    assert h == hashlib.sha256(data).hexdigest()


def test_short_stream_leaves_nothing(store):
    with pytest.raises(InvalidArgument):
        store.put_stream("k/short", io.BytesIO(b"x" * 100), 1000)
    assert [o.key for o in store.list("k/")] == []


def test_copy(store):
    store.put_stream("src", io.BytesIO(b"hello"), 5)
    assert store.copy("src", "dst").size == 5
    assert b"".join(store.open("dst")) == b"hello"


def test_multipart_proxied_parts_resume_and_abort(store):
    part = store.min_part_size
    data = os.urandom(part * 2 + 10)
    uid = store.multipart_start("m/obj")
    store.multipart_put_part("m/obj", uid, 2, io.BytesIO(data[part : 2 * part]), part)
    assert sorted(store.multipart_parts("m/obj", uid)) == [2]
    with pytest.raises(InvalidArgument):
        store.multipart_complete("m/obj", uid, 3)
    store.multipart_put_part("m/obj", uid, 1, io.BytesIO(data[:part]), part)
    store.multipart_put_part("m/obj", uid, 3, io.BytesIO(data[2 * part :]), 10)
    assert store.multipart_complete("m/obj", uid, 3).size == len(data)
    assert b"".join(store.open("m/obj")) == data
    uid2 = store.multipart_start("m/aborted")
    store.multipart_put_part("m/aborted", uid2, 1, io.BytesIO(b"abc"), 3)
    store.multipart_abort("m/aborted", uid2)
    with pytest.raises(NotFound):
        store.multipart_parts("m/aborted", uid2)
    assert [o.key for o in store.list("m/")] == ["m/obj"]


def test_missing_object_is_not_found(store):
    with pytest.raises(NotFound):
        store.stat("nope")
    with pytest.raises(NotFound):
        b"".join(store.open("nope"))
