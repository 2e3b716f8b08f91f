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
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
PROGRESS_MIN = 4 * 1024 * 1024


class ArtifactError(Exception):
    """A transfer failed or its content did not verify."""


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled or total < PROGRESS_MIN or os.environ.get("TETHER_PROGRESS", "1") in ("0", "false"):
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
    def __init__(self, http: requests.Session, base_url: str, *, progress: bool = True, workers: int = 4,
                 multipart_threshold: int = 64 * 1024 * 1024, part_retries: int = 3,
                 timeout: float = 300.0) -> None:
        self.http = http
        self.base = base_url.rstrip("/") + "/api/v1"
        self.progress = progress
        self.workers = workers
        self.threshold = multipart_threshold
        self.part_retries = part_retries
        self.timeout = timeout

    def _url(self, run_id: str, suffix: str = "") -> str:
        from urllib.parse import quote

        return f"{self.base}/runs/{quote(run_id, safe='')}/artifacts{suffix}"

    def _check(self, r: requests.Response) -> dict[str, Any]:
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": str(r.status_code), "message": r.text[:200], "details": {}}
            raise ArtifactError(f"{r.status_code} {err.get('code')}: {err.get('message')}", err)
        return r.json() if r.content else {}

    # ------------------------------------------------------------ upload

    def upload_file(self, run_id: str, local: str | os.PathLike[str], artifact_path: str | None = None) -> dict[str, Any]:
        src = Path(local)
        dest = artifact_path if artifact_path is not None else src.name
        size = src.stat().st_size
        sha = _sha256(src)
        try:
            if size < self.threshold:
                return self._put(run_id, src, dest, size, sha)
            return self._multipart(run_id, src, dest, size, sha)
        except ArtifactError as e:
            details = (e.args[1] if len(e.args) > 1 else {}).get("details", {})
            if e.args[1].get("code") == "ALREADY_EXISTS" and details.get("sha256") == sha:
                return {"path": dest, "size": size, "sha256": sha}  # already there with this content
            raise

    def upload_dir(self, run_id: str, local_dir: str | os.PathLike[str],
                   artifact_path: str | None = None) -> list[dict[str, Any]]:
        root = Path(local_dir)
        out = []
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            out.append(self.upload_file(run_id, f, f"{artifact_path.rstrip('/')}/{rel}" if artifact_path else rel))
        return out

    def _put(self, run_id: str, src: Path, dest: str, size: int, sha: str) -> dict[str, Any]:
        from urllib.parse import quote

        bar = _progress(size, dest, self.progress)
        for attempt in range(self.part_retries + 1):
            body = _Slice(src, 0, size, bar)
            try:
                r = self.http.put(self._url(run_id, "/" + quote(dest)), data=body, timeout=self.timeout,
                                  headers={"X-Content-SHA256": sha, "Content-Length": str(size)})
                if r.status_code in (502, 503, 504) and attempt < self.part_retries:
                    time.sleep(float(r.headers.get("Retry-After", 1)))
                    continue
                return self._check(r)
            except requests.ConnectionError:
                if attempt == self.part_retries:
                    raise
            finally:
                body.close()
                if bar is not None and attempt == self.part_retries:
                    bar.close()
        raise ArtifactError("upload failed")

    def _multipart(self, run_id: str, src: Path, dest: str, size: int, sha: str) -> dict[str, Any]:
        up = self._check(self.http.post(self._url(run_id, "/uploads"), timeout=self.timeout,
                                        json={"path": dest, "size": size, "sha256": sha}))
        uid, psize = up["upload_id"], up["part_size"]
        bar = _progress(size, dest, self.progress)
        try:
            for _round in range(self.part_retries + 1):
                missing = self._missing_parts(run_id, up)
                if not missing:
                    break
                self._send_parts(run_id, up, src, psize, size, missing, bar)
                up = self._check(self.http.get(self._url(run_id, f"/uploads/{uid}"), timeout=self.timeout))
            done = self._check(self.http.post(self._url(run_id, f"/uploads/{uid}/complete"), timeout=self.timeout))
            return done["artifact"]
        except BaseException:
            logger.warning("upload %s of %s stopped; resume with the same upload id", uid, dest)
            raise
        finally:
            if bar is not None:
                bar.close()

    @staticmethod
    def _missing_parts(run_id: str, up: dict[str, Any]) -> list[tuple[int, str | None]]:
        done = set(up.get("parts_done") or [])
        urls = {p["part_number"]: p["url"] for p in up.get("parts") or []}
        return [(n, urls.get(n)) for n in range(1, up["part_count"] + 1) if n not in done]

    def _send_parts(self, run_id: str, up: dict[str, Any], src: Path, psize: int, size: int,
                    missing: list[tuple[int, str | None]], bar: Any) -> None:
        def send(item: tuple[int, str | None]) -> bool:
            n, url = item
            off = (n - 1) * psize
            length = min(psize, size - off)
            body = _Slice(src, off, length, bar)
            try:
                if up["mode"] == "direct" and url:
                    r = requests.put(url, data=body, timeout=self.timeout, headers={"Content-Length": str(length)})
                else:
                    r = self.http.put(self._url(run_id, f"/uploads/{up['upload_id']}/parts/{n}"), data=body,
                                      timeout=self.timeout, headers={"Content-Length": str(length)})
                return r.status_code < 300
            except requests.RequestException:
                return False
            finally:
                body.close()

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(send, missing))  # failures are found by the next status check and resent

    # ------------------------------------------------------------ download

    def download(self, run_id: str, path: str, dst: str | os.PathLike[str]) -> Path:
        info = self._check(self.http.post(self._url(run_id, "/downloads"), json={"path": path},
                                          timeout=self.timeout))
        target = Path(dst)
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        for attempt in range(self.part_retries + 1):
            try:
                self._fetch(run_id, path, info, part)
                break
            except (requests.ConnectionError, requests.Timeout, ArtifactError):
                if attempt == self.part_retries:
                    raise
                time.sleep(min(2**attempt, 10))
        got = _sha256(part)
        if got != info["sha256"] or part.stat().st_size != info["size"]:
            part.unlink()
            raise ArtifactError(f"downloaded {path!r} does not match its sha256 ({got} != {info['sha256']})")
        os.replace(part, target)
        return target

    def _fetch(self, run_id: str, path: str, info: dict[str, Any], part: Path) -> None:
        from urllib.parse import quote

        have = part.stat().st_size if part.exists() else 0
        if have >= info["size"]:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        get: Callable[..., requests.Response]
        if info["mode"] == "direct" and info.get("url"):
            url, get = info["url"], requests.get
        else:
            url, get = self._url(run_id, "/" + quote(path)), self.http.get
        bar = _progress(info["size"], path, self.progress)
        if bar is not None:
            bar.update(have)
        with get(url, headers=headers, stream=True, timeout=self.timeout) as r:
            if r.status_code not in (200, 206):
                self._check(r)
                raise ArtifactError(f"download failed: {r.status_code}")
            mode = "ab" if r.status_code == 206 else "wb"
            with open(part, mode) as fh:
                for chunk in r.iter_content(CHUNK):
                    fh.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        if bar is not None:
            bar.close()
