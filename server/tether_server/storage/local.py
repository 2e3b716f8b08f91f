"""Local filesystem backend (the embedded default)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import IO, Iterator

from ..errors import NotFound
from . import StoredObject

CHUNK = 1024 * 1024


class LocalStore:
    kind = "local"

    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents:
            raise ValueError(f"key escapes the store root: {key!r}")
        return p

    def _stat(self, key: str, p: Path) -> StoredObject:
        st = p.stat()
        return StoredObject(key=key, size=st.st_size, etag=f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}",
                            mtime_ms=st.st_mtime_ns // 1_000_000)

    def put_stream(self, key: str, stream: IO[bytes], length: int | None = None) -> StoredObject:
        dst = self._path(key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "wb") as fh:
                while chunk := stream.read(CHUNK):
                    fh.write(chunk)
            os.replace(tmp, dst)
        finally:
            if tmp.exists():
                tmp.unlink()
        return self._stat(key, dst)

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        p = self._path(key)
        if not p.is_file():
            raise NotFound("Artifact object not found")
        fh = open(p, "rb")

        def gen() -> Iterator[bytes]:
            with fh:
                fh.seek(start)
                left = None if end is None else end - start + 1
                while left is None or left > 0:
                    chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        break
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return gen()

    def stat(self, key: str) -> StoredObject:
        p = self._path(key)
        if not p.is_file():
            raise NotFound("Artifact object not found")
        return self._stat(key, p)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self.root
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if f.endswith(".part") and f.startswith("."):
                    continue
                full = Path(dirpath) / f
                key = full.relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield self._stat(key, full)

    def delete(self, key: str) -> None:
        p = self._path(key)
        if p.is_file():
            p.unlink()

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        with open(self._path(src_key), "rb") as fh:
            return self.put_stream(dst_key, fh)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
