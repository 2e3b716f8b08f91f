"""Artifact transfer for the SDK: proxied or presigned direct, parallel parts, resumable, verified.

``ArtifactTransfer(http, base_url)`` needs only a ``requests.Session`` carrying the auth header.
Uploads above ``multipart_threshold`` go in parts (in parallel); a failed part is retried, and after
that the upload resumes from the parts the server reports as stored, never from byte 0. Downloads are
written to ``<dst>.part``, hashed while streaming, checked against the recorded sha256 and renamed into
place; an interrupted download resumes with a Range request.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._pathrules import sdk_check
from ._retry import RetryPolicy
from .errors import AlreadyExistsError, APIError, ArtifactError, ChecksumError, error_from_response

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

__all__ = ["ArtifactTransfer", "ArtifactError", "ChecksumError", "progress_enabled"]

CHUNK = 1024 * 1024
PROGRESS_MIN = 4 * 1024 * 1024


def progress_enabled(flag: bool | None) -> bool:
    """``flag`` if given, else on unless ``TETHER_PROGRESS`` is 0/false/no/off."""
    if flag is not None:
        return flag
    return os.environ.get("TETHER_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled or total < PROGRESS_MIN or not progress_enabled(None):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(4 * CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def guess_type(path: str) -> str:
    return mimetypes.guess_type(path, strict=False)[0] or "application/octet-stream"


class _Slice:
    """A file window ``[offset, offset+length)`` as a readable stream (no part held in memory)."""

    def __init__(self, path: Path, offset: int, length: int, bar: Any) -> None:
        self.fh = open(path, "rb")
        self.fh.seek(offset)
        self.left = length
        self.len = length
        self.bar = bar

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        if self.bar is not None:
            self.bar.update(len(data))
        return data

    def __len__(self) -> int:
        return self.len

    def close(self) -> None:
        self.fh.close()


class ArtifactTransfer:
    """Uploads and downloads for one server. ``stats`` counts what went which way (``put``,
    ``parts_direct``, ``parts_proxy``, ``direct_fallbacks``, ``get_direct``, ``get_proxy``)."""

    def __init__(
        self,
        http: requests.Session,
        base_url: str,
        *,
        progress: bool = True,
        workers: int = 4,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_retries: int | None = None,
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        import requests

        self._rq = requests
        self.http = http
        self.base = base_url.rstrip("/") + "/api/v1"
        self.progress = progress
        self.workers = max(1, workers)
        self.threshold = multipart_threshold
        self.retry = retry or RetryPolicy()
        self.part_retries = self.retry.max_retries if part_retries is None else part_retries
        self.timeout = timeout
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _url(self, run_id: str, suffix: str = "") -> str:
        from urllib.parse import quote

        return f"{self.base}/runs/{quote(run_id, safe='')}/artifacts{suffix}"

    @staticmethod
    def _check(r: requests.Response) -> dict[str, Any]:
        """The JSON body of a 2xx answer; otherwise the matching ``APIError`` subclass."""
        if r.status_code >= 400:
            raise error_from_response(r.status_code, r.content, r.headers)
        return r.json() if r.content else {}

    # ------------------------------------------------------------ upload

    def upload_file(
        self,
        run_id: str,
        local: str | os.PathLike[str],
        artifact_path: str | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Upload one file as ``artifact_path`` (default: its file name); returns the artifact record.

        Uploading the same content to a path that already holds it is a no-op; different content
        raises ``AlreadyExistsError`` (delete the artifact first)."""
        src = Path(local)
        dest = artifact_path if artifact_path is not None else src.name
        sdk_check(dest)
        ctype = content_type or guess_type(src.name)
        size = src.stat().st_size
        sha = _sha256(src)
        try:
            if size < self.threshold:
                return self._put(run_id, src, dest, size, sha, ctype)
            return self._multipart(run_id, src, dest, size, sha, ctype)
        except AlreadyExistsError as e:
            if e.details.get("sha256") == sha:
                return {"path": dest, "size": size, "sha256": sha, "content_type": ctype}  # already there
            raise

    def upload_dir(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[dict[str, Any]]:
        """Upload every regular file under ``local_dir`` (several files at a time), keeping the tree
        under ``artifact_path``; returns the records in path order."""
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(str(root))
        prefix = artifact_path.strip("/") + "/" if artifact_path and artifact_path.strip("/") else ""
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        jobs = [(f, prefix + f.relative_to(root).as_posix()) for f in files]
        _ = [sdk_check(dest) for _f, dest in jobs]  # refuse before the first byte goes out
        if len(jobs) <= 1 or self.workers == 1:
            return [self.upload_file(run_id, f, dest) for f, dest in jobs]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tether-upload") as pool:
            return list(pool.map(lambda job: self.upload_file(run_id, *job), jobs))

    def _put(self, run_id: str, src: Path, dest: str, size: int, sha: str, ctype: str) -> dict[str, Any]:
        from urllib.parse import quote

        bar = _progress(size, dest, self.progress)
        try:
            for attempt in range(self.part_retries + 1):
                body = _Slice(src, 0, size, bar)
                if bar is not None:
                    bar.reset(size)
                try:
                    r = self.http.put(
                        self._url(run_id, "/" + quote(dest)),
                        data=body,
                        timeout=self.timeout,
                        headers={"X-Content-SHA256": sha, "Content-Length": str(size), "Content-Type": ctype},
                    )
                except (self._rq.ConnectionError, self._rq.Timeout):
                    if attempt == self.part_retries:
                        raise
                    self.retry.wait(attempt)  # a PUT of the same bytes is idempotent
                    continue
                finally:
                    body.close()
                if self.retry.retryable_status(r.status_code) and attempt < self.part_retries:
                    self.retry.wait(attempt, r.headers.get("Retry-After"))
                    continue
                self._count("put")
                return self._check(r)
        finally:
            if bar is not None:
                bar.close()
        raise ArtifactError(f"upload of {dest!r} failed")

    def _multipart(
        self, run_id: str, src: Path, dest: str, size: int, sha: str, ctype: str
    ) -> dict[str, Any]:
        up = self._check(
            self.http.post(
                self._url(run_id, "/uploads"),
                timeout=self.timeout,
                json={"path": dest, "size": size, "sha256": sha, "content_type": ctype},
            )
        )
        uid, psize = up["upload_id"], up["part_size"]
        bar = _progress(size, dest, self.progress)
        try:
            for _round in range(self.part_retries + 1):
                missing = self._missing_parts(run_id, up)
                if not missing:
                    break
                self._send_parts(run_id, up, src, psize, size, missing, bar)
                up = self._check(self.http.get(self._url(run_id, f"/uploads/{uid}"), timeout=self.timeout))
            if self._missing_parts(run_id, up):
                raise ArtifactError(
                    f"upload {uid} of {dest!r}: parts still missing after {self.part_retries} retries"
                )
            done = self._check(
                self.http.post(
                    self._url(run_id, f"/uploads/{uid}/complete"),
                    timeout=self.timeout,
                    json={"content_type": ctype},
                )
            )
            return done["artifact"]
        except BaseException:
            logger.warning("upload %s of %s stopped", uid, dest)
            raise
        finally:
            if bar is not None:
                bar.close()

    @staticmethod
    def _missing_parts(run_id: str, up: dict[str, Any]) -> list[tuple[int, str | None]]:
        done = set(up.get("parts_done") or [])
        urls = {p["part_number"]: p["url"] for p in up.get("parts") or []}
        return [(n, urls.get(n)) for n in range(1, up["part_count"] + 1) if n not in done]

    def _send_parts(
        self,
        run_id: str,
        up: dict[str, Any],
        src: Path,
        psize: int,
        size: int,
        missing: list[tuple[int, str | None]],
        bar: Any,
    ) -> None:
        """Send parts in parallel: to the presigned URLs in direct mode, else through the server.
        A direct PUT that cannot reach the store falls back to the server for that part."""

        def send(item: tuple[int, str | None]) -> bool:
            n, url = item
            off = (n - 1) * psize
            length = min(psize, size - off)
            if up["mode"] == "direct" and url:
                try:
                    if self._send_one(url, src, off, length, bar, direct=True):
                        self._count("parts_direct")
                        return True
                    return False
                except self._rq.RequestException:
                    self._count("direct_fallbacks")
                    logger.info("part %d: the store's URL is unreachable; sending it through the server", n)
            try:
                ok = self._send_one(
                    self._url(run_id, f"/uploads/{up['upload_id']}/parts/{n}"),
                    src,
                    off,
                    length,
                    bar,
                    direct=False,
                )
            except self._rq.RequestException:
                return False
            if ok:
                self._count("parts_proxy")
            return ok

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tether-part") as pool:
            list(pool.map(send, missing))  # failures are found by the next status check and resent

    def _send_one(self, url: str, src: Path, off: int, length: int, bar: Any, *, direct: bool) -> bool:
        body = _Slice(src, off, length, bar)
        try:
            put = self._rq.put if direct else self.http.put  # never send our token to the store
            r = put(url, data=body, timeout=self.timeout, headers={"Content-Length": str(length)})
            return r.status_code < 300
        finally:
            body.close()

    # ------------------------------------------------------------ download

    def download(self, run_id: str, path: str, dst: str | os.PathLike[str]) -> Path:
        """Fetch ``path`` to ``dst``: into the folder ``dst`` when it ends with "/" or is an existing
        directory (keeping the file's name; the folder is created), else to the file ``dst``; checking
        size and sha256; an interrupted transfer resumes with a Range request. Raises ``ChecksumError``
        (and leaves nothing at ``dst``) when the bytes do not match the recorded sha256."""
        sdk_check(path)
        info = self._check(
            self.http.post(self._url(run_id, "/downloads"), json={"path": path}, timeout=self.timeout)
        )
        target = Path(dst)
        if str(dst).endswith(("/", os.sep)) or target.is_dir():  # "into" this folder
            target = target / path.rsplit("/", 1)[-1]
        return self._verified(
            target, info["size"], info["sha256"], path, lambda part: self._fetch(run_id, path, info, part)
        )

    def download_url(self, url: str, target: Path, size: int, sha256: str) -> Path:
        """Fetch a URL the server handed out (a model version's file) into ``target``, verified like
        ``download``. Our token goes only to the server itself, never to another origin (a presigned
        store URL)."""
        from urllib.parse import urlsplit

        same_origin = urlsplit(url).netloc == urlsplit(self.base).netloc
        get: Callable[..., requests.Response] = self.http.get if same_origin else self._rq.get

        def fetch(part: Path) -> None:
            have = part.stat().st_size if part.exists() else 0
            if have >= size > 0:
                return
            headers = {"Range": f"bytes={have}-"} if have else {}
            r = get(url, headers=headers, stream=True, timeout=self.timeout)
            self._write(r, part, size, have, target.name)

        return self._verified(target, size, sha256, target.name, fetch)

    def _verified(
        self, target: Path, size: int, sha256: str, label: str, fetch: Callable[[Path], None]
    ) -> Path:
        """Run ``fetch(part)`` (retrying, and resuming, under the retry policy), check size and
        sha256, then rename the part file into place; on any failure nothing is left behind."""
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        part.unlink(missing_ok=True)
        try:
            for attempt in range(self.part_retries + 1):
                try:
                    fetch(part)
                    break
                except (self._rq.ConnectionError, self._rq.Timeout, APIError) as exc:
                    if isinstance(exc, APIError) and not self.retry.retryable_error(exc):
                        raise
                    if attempt == self.part_retries:
                        raise
                    self.retry.wait(attempt, exc.retry_after if isinstance(exc, APIError) else None)
            got, n = _sha256(part), part.stat().st_size
            if got != sha256 or n != size:
                raise ChecksumError(
                    f"downloaded {label!r} does not match its record: {n} bytes sha256 {got}, "
                    f"expected {size} bytes sha256 {sha256}"
                )
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        logger.info("wrote %s (%d bytes) from %s", target, size, label)
        return target

    def _fetch(self, run_id: str, path: str, info: dict[str, Any], part: Path) -> None:
        from urllib.parse import quote

        have = part.stat().st_size if part.exists() else 0
        if have >= info["size"] and info["size"] > 0:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        proxy_url = self._url(run_id, "/" + quote(path))
        get: Callable[..., requests.Response] = self.http.get
        url = proxy_url
        if info["mode"] == "direct" and info.get("url"):
            url, get = info["url"], self._rq.get
        try:
            r = get(url, headers=headers, stream=True, timeout=self.timeout)
        except self._rq.ConnectionError:
            if url == proxy_url:
                raise
            logger.info("the store's URL for %s is unreachable; downloading through the server", path)
            self._count("direct_fallbacks")
            info["mode"] = "proxy"
            r = self.http.get(proxy_url, headers=headers, stream=True, timeout=self.timeout)
        self._count("get_direct" if info["mode"] == "direct" else "get_proxy")
        self._write(r, part, info["size"], have, path)

    def _write(self, r: requests.Response, part: Path, size: int, have: int, path: str) -> None:
        with r:
            if r.status_code not in (200, 206):
                self._check(r)
                raise APIError(r.status_code, f"HTTP_{r.status_code}", f"download of {path!r} failed")
            bar = _progress(size, path, self.progress)
            try:
                if bar is not None:
                    bar.update(have if r.status_code == 206 else 0)
                with open(part, "ab" if r.status_code == 206 else "wb") as fh:
                    for chunk in r.iter_content(CHUNK):
                        fh.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
