"""Artifact storage: one small protocol, two backends picked by URL scheme.

The artifacts issue fills in streaming, multipart and presigning; this module owns the
protocol and the factory so every caller goes through one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Iterator, Protocol

from ..config import Settings


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    mtime_ms: int


class ArtifactStore(Protocol):
    kind: str  # "local" or "s3"

    def put_stream(self, key: str, stream: IO[bytes], length: int | None = None) -> StoredObject: ...
    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def stat(self, key: str) -> StoredObject: ...
    def list(self, prefix: str) -> Iterator[StoredObject]: ...
    def delete(self, key: str) -> None: ...
    def copy(self, src_key: str, dst_key: str) -> StoredObject: ...


def store_from_settings(settings: Settings) -> ArtifactStore:
    uri = settings.resolved_artifact_uri
    if uri.startswith("s3://"):
        from .s3 import S3Store

        return S3Store.from_settings(settings)
    from .local import LocalStore

    return LocalStore(uri[len("file://"):] if uri.startswith("file://") else uri)
