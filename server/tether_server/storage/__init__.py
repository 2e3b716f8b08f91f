"""Artifact storage: one small protocol, two backends picked by URL scheme.

``ArtifactStore`` is the whole contract other code may rely on (artifacts, model versions, gc):

- ``put_stream(key, stream, length=None)`` stores a stream under ``key`` with flat memory; the object
  appears only once complete (local: temp file + rename; S3: single PUT or multipart completed last).
- ``open(key, start, end)`` returns an ``ObjectBody``: iterating it yields the bytes ``[start, end]``
  (inclusive) in chunks; ``zerocopy.serve`` sends it without copying through Python under gunicorn.
- ``stat`` / ``list(prefix)`` / ``delete`` / ``copy`` are what they say; keys are relative to the
  store's root (the URI prefix is applied inside the backend).
- Multipart (both backends, used for resumable and parallel uploads): ``multipart_start`` →
  ``multipart_put_part`` (proxied) or a presigned part URL (``presign_part``, S3 only) →
  ``multipart_parts`` → ``multipart_complete`` / ``multipart_abort``.
- ``presign_get(key, expires_s)`` / ``presign_part`` exist when ``supports_presign`` is true.
- ``check()`` raises ``Unavailable`` when the backend cannot be reached.

Backend failures that mean "the store is down" raise ``errors.Unavailable`` (503 + Retry-After);
a missing object raises ``errors.NotFound``. Keys are built by the server only
(``<experiment_id>/<run_id>/artifacts/<path>~<upload id>``: each upload writes its own object and the
artifact row records the key, see ``services.artifacts.files.storage_key``); clients never supply them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from ..config import Settings
from .zerocopy import ObjectBody


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    mtime_ms: int


class ArtifactStore(Protocol):
    kind: str  # "local" or "s3"
    supports_presign: bool
    min_part_size: int

    def put_stream(self, key: str, stream: IO[bytes], length: int | None = None) -> StoredObject: ...
    def open(self, key: str, start: int = 0, end: int | None = None) -> ObjectBody: ...
    def stat(self, key: str) -> StoredObject: ...
    def list(self, prefix: str) -> Iterator[StoredObject]: ...
    def delete(self, key: str) -> None: ...
    def copy(self, src_key: str, dst_key: str) -> StoredObject: ...
    def check(self) -> None: ...

    def multipart_start(self, key: str) -> str: ...
    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream: IO[bytes], length: int
    ) -> str: ...
    def multipart_parts(self, key: str, upload_id: str) -> dict[int, int]: ...
    def multipart_complete(self, key: str, upload_id: str, part_count: int) -> StoredObject: ...
    def multipart_abort(self, key: str, upload_id: str) -> None: ...

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str: ...
    def presign_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str: ...


def store_from_settings(settings: Settings) -> ArtifactStore:
    uri = settings.resolved_artifact_uri
    if uri.startswith("s3://"):
        from .s3 import S3Store

        return S3Store.from_settings(settings)
    from .local import LocalStore

    return LocalStore(uri[len("file://") :] if uri.startswith("file://") else uri)
