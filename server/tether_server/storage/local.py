"""Local filesystem backend (the embedded default).

Objects appear atomically: data goes to a hidden ``.name.<uuid>.part`` file beside the target and is
renamed into place only once complete. Multipart uploads keep their parts under ``.uploads/<id>/``
and are concatenated into place on completion.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import InsufficientStorage, InvalidArgument, NotFound, Unavailable
from . import StoredObject
from .zerocopy import ObjectBody

CHUNK = 1024 * 1024
UPLOADS_DIR = ".uploads"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def disk_errors() -> Iterator[None]:
    """A full disk (or quota) is 507 INSUFFICIENT_STORAGE, a read-only one 503; the caller's temp file
    is removed by its own ``finally`` and no object appears, so nothing half-written is left."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise InsufficientStorage(
                "The artifact store is full; nothing was stored. Free space or retry later",
                {"store": "local"},
                headers={"Retry-After": "60"},
            ) from exc
        if exc.errno == errno.EROFS:
            raise Unavailable(
                "The artifact store is read-only", {"store": "local"}, headers={"Retry-After": "60"}
            ) from exc
        raise


class LocalStore:
    kind = "local"
    supports_presign = False
    min_part_size = 64 * 1024

    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents or key.startswith(UPLOADS_DIR + "/"):
            raise ValueError(f"key escapes the store root: {key!r}")
        return p

    def _stat(self, key: str, p: Path) -> StoredObject:
        st = p.stat()
        return StoredObject(
            key=key,
            size=st.st_size,
            etag=f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}",
            mtime_ms=st.st_mtime_ns // 1_000_000,
        )

    def check(self) -> None:
        """A real write probe (``os.access`` says yes to root on a read-only or removed folder's parent)."""
        probe = self.root / f".ready-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"1")
            probe.unlink()
        except OSError as exc:
            from ..errors import Unavailable

            raise Unavailable(
                f"The artifact store is not writable ({exc.strerror or exc.__class__.__name__})",
                headers={"Retry-After": "5"},
            ) from None

    def put_stream(self, key: str, stream: IO[bytes], length: int | None = None) -> StoredObject:
        dst = self._path(key)
        with disk_errors():
            dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex}.part"
        try:
            with disk_errors(), open(tmp, "wb") as fh:
                _copy(stream, fh, length)
                fh.flush()
            os.replace(tmp, dst)
        finally:
            if tmp.exists():
                tmp.unlink()
        return self._stat(key, dst)

    def open(self, key: str, start: int = 0, end: int | None = None) -> ObjectBody:
        p = self._path(key)
        if not p.is_file():
            raise NotFound("Artifact object not found")
        fh = open(p, "rb")
        fh.seek(start)
        size = os.fstat(fh.fileno()).st_size
        last = size - 1 if end is None else min(end, size - 1)

        def gen() -> Iterator[bytes]:
            with fh:
                left = None if end is None else end - start + 1
                while left is None or left > 0:
                    chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        break
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return ObjectBody(gen(), fh.close, max(0, last - start + 1), fileobj=fh)

    def stat(self, key: str) -> StoredObject:
        p = self._path(key)
        if not p.is_file():
            raise NotFound("Artifact object not found")
        return self._stat(key, p)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        for dirpath, dirs, files in os.walk(self.root):
            if Path(dirpath) == self.root and UPLOADS_DIR in dirs:
                dirs.remove(UPLOADS_DIR)
            for f in files:
                if f.endswith(".part") and f.startswith("."):
                    continue
                full = Path(dirpath) / f
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield self._stat(key, full)

    def delete(self, key: str) -> None:
        p = self._path(key)
        if p.is_file():
            p.unlink()

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        src = self._path(src_key)
        if not src.is_file():
            raise NotFound("Artifact object not found")
        with open(src, "rb") as fh:
            return self.put_stream(dst_key, fh)

    # ------------------------------------------------------------ multipart

    def _updir(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise NotFound("Upload not found")
        return self.root / UPLOADS_DIR / upload_id

    def multipart_start(self, key: str) -> str:
        self._path(key)
        uid = uuid.uuid4().hex
        with disk_errors():
            self._updir(uid).mkdir(parents=True)
        return uid

    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream: IO[bytes], length: int
    ) -> str:
        d = self._updir(upload_id)
        if not d.is_dir():
            raise NotFound("Upload not found (completed or aborted)")
        tmp = d / f".{part_number}.{uuid.uuid4().hex}.part"
        try:
            h = hashlib.md5(usedforsecurity=False)
            with disk_errors(), open(tmp, "wb") as fh:
                _copy(stream, fh, length, h)
                fh.flush()
            os.replace(tmp, d / str(part_number))
        finally:
            if tmp.exists():
                tmp.unlink()
        return h.hexdigest()

    def multipart_parts(self, key: str, upload_id: str) -> dict[int, int]:
        d = self._updir(upload_id)
        if not d.is_dir():
            raise NotFound("Upload not found (completed or aborted)")
        return {int(p.name): p.stat().st_size for p in d.iterdir() if p.name.isdigit()}

    def multipart_complete(self, key: str, upload_id: str, part_count: int) -> StoredObject:
        d = self._updir(upload_id)
        missing = [n for n in range(1, part_count + 1) if not (d / str(n)).is_file()]
        if missing:
            raise InvalidArgument("Some parts were not uploaded", {"missing_parts": missing[:100]})
        dst = self._path(key)
        tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex}.part"
        try:
            with disk_errors():
                dst.parent.mkdir(parents=True, exist_ok=True)
                out = open(tmp, "wb")
            with disk_errors(), out:
                for n in range(1, part_count + 1):
                    with open(d / str(n), "rb") as part:
                        shutil.copyfileobj(part, out, CHUNK)
            os.replace(tmp, dst)
        finally:
            if tmp.exists():
                tmp.unlink()
        shutil.rmtree(d, ignore_errors=True)
        return self._stat(key, dst)

    def multipart_abort(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._updir(upload_id), ignore_errors=True)

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str:
        raise NotImplementedError("the local store has no presigned URLs")

    def presign_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str:
        raise NotImplementedError("the local store has no presigned URLs")


def _copy(src: IO[bytes], dst: IO[bytes], length: int | None, h: object | None = None) -> int:
    """Copy ``length`` bytes (or to EOF); a short stream is an error (the client went away)."""
    n = 0
    while length is None or n < length:
        chunk = src.read(CHUNK if length is None else min(CHUNK, length - n))
        if not chunk:
            break
        dst.write(chunk)
        if h is not None:
            h.update(chunk)  # type: ignore[attr-defined]
        n += len(chunk)
    if length is not None and n != length:
        raise InvalidArgument(
            "The request body ended before its declared length",
            {"reason": f"stream ended after {n} of {length} bytes"},
        )
    return n


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
