"""S3 backend on the ``minio`` SDK: MinIO, Ceph RGW and AWS S3.

Configured by ``TETHER_ARTIFACT_URI=s3://bucket/prefix`` plus ``TETHER_S3_ENDPOINT`` (``host:port`` or a
URL; a URL's scheme overrides ``TETHER_S3_SECURE``), ``TETHER_S3_ACCESS_KEY``, ``TETHER_S3_SECRET_KEY``,
``TETHER_S3_REGION`` and ``TETHER_S3_PRESIGN`` (offer presigned direct transfer to clients).

Memory: proxied bytes are never buffered whole. A stream of known length goes out as one streamed PUT
(or, above 5 GiB, as parts of exact length), each to a URL the server presigns for itself, so the body
passes through in 1 MiB chunks with no part buffer and no second hashing pass. Only a stream of
unknown length needs one part in memory at a time (5 MiB, growing after every 2,000 parts).
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import IO, Any, TypeVar
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import ParseError

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from ..config import Settings
from ..errors import InvalidArgument, NotFound, Unavailable
from . import StoredObject
from .s3_multipart import Multipart, S3CallError
from .zerocopy import ObjectBody

logger = logging.getLogger(__name__)

MIN_PART = 5 * 1024 * 1024
PART_STEP = 2000  # an unsized stream's part size doubles after every PART_STEP parts
SINGLE_PUT_MAX = 5 * 1024**3
CHUNK = 1024 * 1024
# Downloads: the first bytes go out as soon as they arrive (a 1 MiB first read held the first byte
# until a whole MiB had come from the store), the rest in 4 MiB reads (fewer passes per MiB).
FIRST_CHUNK = 64 * 1024
STREAM_CHUNK = 4 * 1024 * 1024
SELF_PRESIGN = timedelta(hours=6)  # URLs the server signs for its own streamed PUTs
F = TypeVar("F", bound=Callable[..., Any])
_MISSING = {"NoSuchKey", "NoSuchUpload", "NoSuchObject", "NoSuchBucket"}


def _unavailable(exc: BaseException) -> Unavailable:
    logger.warning("artifact store unavailable: %s", type(exc).__name__)
    return Unavailable(
        "The artifact store is unavailable; retry later", {"store": "s3"}, headers={"Retry-After": "5"}
    )


def translate(exc: BaseException) -> BaseException:
    if isinstance(exc, ShortBody):
        return InvalidArgument("The request body ended before its declared length", {"reason": str(exc)})
    if isinstance(exc, S3Error | S3CallError):
        if exc.code in _MISSING:
            return NotFound("Artifact object not found", {"store_code": exc.code})
        if exc.code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            return InvalidArgument("The uploaded parts are incomplete or invalid", {"store_code": exc.code})
        return _unavailable(exc)
    if isinstance(
        exc, (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError, ParseError)
    ):
        return _unavailable(exc)
    return exc


def guarded(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NotFound, InvalidArgument, Unavailable):
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to the API's error family
            mapped = translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    return wrapper  # type: ignore[return-value]


class S3Store:
    kind = "s3"
    min_part_size = 5 * 1024 * 1024

    def __init__(
        self,
        client: Minio,
        bucket: str,
        prefix: str = "",
        presign: bool = True,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.supports_presign = presign
        self.http = http or urllib3.PoolManager()  # streamed PUTs and the multipart calls
        self.multipart = Multipart(client, self.http, bucket)
        self._bucket_ok = False

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        parts = urlsplit(settings.resolved_artifact_uri)
        endpoint, secure = settings.s3_endpoint or "s3.amazonaws.com", settings.s3_secure
        if "://" in endpoint:
            ep = urlsplit(endpoint)
            endpoint, secure = ep.netloc, ep.scheme == "https"
        http = urllib3.PoolManager(
            maxsize=32,
            timeout=urllib3.Timeout(connect=3, read=120),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        client = Minio(
            endpoint,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            secure=secure,
            region=settings.s3_region or "us-east-1",
            http_client=http,
        )
        return cls(client, parts.netloc, parts.path, presign=settings.s3_presign, http=http)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _ensure_bucket(self) -> None:
        if not self._bucket_ok:
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as e:
                    if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ok = True

    @guarded
    def check(self) -> None:
        self.client.bucket_exists(self.bucket)

    @guarded
    def put_stream(self, key: str, stream: IO[bytes], length: int | None = None) -> StoredObject:
        self._ensure_bucket()
        k = self._k(key)
        if length is None:
            first = _read_up_to(stream, MIN_PART)
            if len(first) < MIN_PART:  # the whole stream fits one small PUT
                self._send(self._put_url(k), first, len(first))
            else:
                self._put_multipart(k, stream, None, first)
        elif length <= SINGLE_PUT_MAX:
            self._send(self._put_url(k), _exact(stream, length) if length else b"", length)
        else:
            self._put_multipart(k, stream, length, b"")
        return self.stat(key)

    def _send(self, url: str, body: Any, size: int) -> str:
        """PUT ``size`` bytes (bytes or an iterator of chunks) to a presigned URL; returns the ETag."""
        resp = self.http.urlopen(
            "PUT",
            url,
            body=body,
            retries=False,
            redirect=False,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        if resp.status >= 300:
            logger.warning("store refused a PUT: %s %s", resp.status, resp.data[:300])
            if resp.status in (400, 411, 413):
                raise InvalidArgument("The artifact store refused the object", {"store_status": resp.status})
            raise _unavailable(RuntimeError(f"store answered {resp.status}"))
        return (resp.headers.get("ETag") or "").strip('"')

    def _put_multipart(self, k: str, stream: IO[bytes], length: int | None, first: bytes | bytearray) -> None:
        """Known length: parts of exact length, streamed. Unknown: one buffered part at a time
        (``first`` is the first part, already read); the part size doubles every ``PART_STEP`` parts."""
        upload_id = self.multipart.create(k)
        parts: list[tuple[int, str]] = []
        try:
            left = length
            for n in itertools.count(1):
                if left is not None:
                    size = min(max(MIN_PART, -(-left // (10_000 - n + 1))), left)
                    body: Any = _exact(stream, size)
                    left -= size
                    last = left == 0
                else:
                    want = MIN_PART << min((n - 1) // PART_STEP, 10)
                    body = first if n == 1 else _read_up_to(stream, want)
                    if not body:
                        break
                    size, last = len(body), len(body) < want
                parts.append((n, self._send(self._part_url(k, upload_id, n, SELF_PRESIGN), body, size)))
                if last:
                    break
            self.multipart.complete(k, upload_id, parts)
        except BaseException:
            try:
                self.multipart.abort(k, upload_id)
            except Exception:  # noqa: BLE001 - the first error matters; gc aborts stale uploads
                logger.warning("could not abort the multipart upload of %s", k)
            raise

    def _put_url(self, k: str) -> str:
        return self.client.get_presigned_url("PUT", self.bucket, k, SELF_PRESIGN)

    def _part_url(self, k: str, upload_id: str, part_number: int, expires: timedelta) -> str:
        return self.multipart.part_url(k, upload_id, part_number, expires)

    @guarded
    def open(self, key: str, start: int = 0, end: int | None = None) -> ObjectBody:
        length = 0 if end is None else end - start + 1
        resp = self.client.get_object(self.bucket, self._k(key), offset=start, length=length)

        def close() -> None:
            resp.close()
            resp.release_conn()

        size = int(resp.headers.get("Content-Length") or 0)
        return ObjectBody(_chunks(resp), close, size)

    @guarded
    def stat(self, key: str) -> StoredObject:
        st = self.client.stat_object(self.bucket, self._k(key))
        mtime = int(st.last_modified.timestamp() * 1000) if st.last_modified else 0
        return StoredObject(key=key, size=st.size or 0, etag=st.etag or "", mtime_ms=mtime)

    @guarded
    def list(self, prefix: str) -> Iterator[StoredObject]:
        out = []
        for o in self.client.list_objects(self.bucket, prefix=self._k(prefix), recursive=True):
            mtime = int(o.last_modified.timestamp() * 1000) if o.last_modified else 0
            out.append(
                StoredObject(
                    key=(o.object_name or "")[len(self.prefix) :],
                    size=o.size or 0,
                    etag=o.etag or "",
                    mtime_ms=mtime,
                )
            )
        return iter(out)

    @guarded
    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, self._k(key))

    @guarded
    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        from minio.commonconfig import CopySource

        self.client.copy_object(self.bucket, self._k(dst_key), CopySource(self.bucket, self._k(src_key)))
        return self.stat(dst_key)

    # ------------------------------------------------------------ multipart

    @guarded
    def multipart_start(self, key: str) -> str:
        self._ensure_bucket()
        return self.multipart.create(self._k(key))

    @guarded
    def multipart_put_part(
        self, key: str, upload_id: str, part_number: int, stream: IO[bytes], length: int
    ) -> str:
        url = self._part_url(self._k(key), upload_id, part_number, SELF_PRESIGN)
        return self._send(url, _exact(stream, length) if length else b"", length)

    @guarded
    def multipart_parts(self, key: str, upload_id: str) -> dict[int, int]:
        return {p.part_number: p.size for p in self.multipart.list_parts(self._k(key), upload_id)}

    @guarded
    def multipart_complete(self, key: str, upload_id: str, part_count: int) -> StoredObject:
        parts = {p.part_number: p.etag for p in self.multipart.list_parts(self._k(key), upload_id)}
        missing = [n for n in range(1, part_count + 1) if n not in parts]
        if missing:
            raise InvalidArgument("Some parts were not uploaded", {"missing_parts": missing[:100]})
        self.multipart.complete(self._k(key), upload_id, [(n, parts[n]) for n in range(1, part_count + 1)])
        return self.stat(key)

    @guarded
    def multipart_abort(self, key: str, upload_id: str) -> None:
        try:
            self.multipart.abort(self._k(key), upload_id)
        except S3CallError as e:
            if e.code != "NoSuchUpload":
                raise

    def presign_get(self, key: str, expires_s: int, filename: str | None = None) -> str:
        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-type": "application/octet-stream"
        }
        if filename:
            headers["response-content-disposition"] = (
                f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
            )
        return self.client.get_presigned_url(
            "GET", self.bucket, self._k(key), timedelta(seconds=expires_s), response_headers=headers
        )

    def presign_part(self, key: str, upload_id: str, part_number: int, expires_s: int) -> str:
        return self._part_url(self._k(key), upload_id, part_number, timedelta(seconds=expires_s))


class ShortBody(Exception):
    """The request body ended before its declared length (the client went away)."""


def _exact(stream: IO[bytes], length: int) -> Iterator[bytes]:
    """Exactly ``length`` bytes of ``stream`` in chunks of at most 1 MiB."""
    left = length
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            raise ShortBody(f"stream ended {left} bytes early")
        left -= len(data)
        yield data


def _read_up_to(stream: IO[bytes], size: int) -> bytearray:
    buf = bytearray()
    while len(buf) < size:
        data = stream.read(min(CHUNK, size - len(buf)))
        if not data:
            break
        buf += data
    return buf


def _chunks(resp: Any) -> Iterator[bytes]:
    """An object's bytes from a GET response: ``FIRST_CHUNK`` first, then ``STREAM_CHUNK`` pieces."""
    first = resp.read(FIRST_CHUNK, decode_content=False)
    if first:
        yield first
        yield from resp.stream(STREAM_CHUNK, decode_content=False)
