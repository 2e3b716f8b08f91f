"""``client.artifacts``: upload, list, download (sha256-verified) and delete run artifacts.

Large files go in parallel parts (directly to the object store when the server offers presigned
URLs, else through the server); progress bars appear for transfers over 4 MiB unless
``Client(progress=False)``, ``progress=False`` on the call, or ``TETHER_PROGRESS=0``.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._pathrules import sdk_check
from ..errors import NotFoundError
from ..types import Page
from ._base import Resource
from ._paging import Paginator
from .runs import quote_segment

if TYPE_CHECKING:
    from .._artifacts import ArtifactTransfer
    from .._client import Client

__all__ = ["Artifacts", "ArtifactInfo"]

DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    path: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"
    mtime: int | None = None  # epoch ms when recorded

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtifactInfo:
        return cls(
            path=d["path"],
            size=int(d["size"]),
            sha256=d["sha256"],
            content_type=d.get("content_type") or "application/octet-stream",
            mtime=d.get("mtime"),
        )


def artifact_dest(local: str | os.PathLike[str], artifact_path: str | None) -> str:
    """Where ``log_artifact(local, artifact_path)`` puts a file: ``<artifact_path>/<file name>``."""
    name = Path(local).name
    folder = (artifact_path or "").strip("/")
    return f"{folder}/{name}" if folder else name


class Artifacts(Resource):
    def __init__(
        self,
        client: Client,
        *,
        progress: bool | None = None,
        workers: int = 4,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    ) -> None:
        super().__init__(client)
        self.progress = progress
        self.workers = workers
        self.multipart_threshold = multipart_threshold
        self._transfers: dict[bool, ArtifactTransfer] = {}
        self._lock = threading.Lock()

    def transfer(self, progress: bool | None = None) -> ArtifactTransfer:
        """The transfer engine (built on first use: this is where ``requests`` gets imported)."""
        from .._artifacts import ArtifactTransfer, progress_enabled

        show = progress_enabled(progress if progress is not None else self.progress)
        with self._lock:
            if show not in self._transfers:
                self._transfers[show] = ArtifactTransfer(
                    self._client.http_session(self.workers),
                    self._client.base_url,
                    progress=show,
                    workers=self.workers,
                    multipart_threshold=self.multipart_threshold,
                    timeout=max(self._client.timeout, 300.0),
                    retry=self._client.retry,
                )
            t = self._transfers[show]
        t.threshold, t.workers = self.multipart_threshold, max(1, self.workers)
        return t

    def upload(
        self,
        run_id: str,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: bool | None = None,
    ) -> ArtifactInfo:
        """Upload a file as ``<artifact_path>/<file name>`` (``artifact_path`` is a folder; None: the root)."""
        rec = self.transfer(progress).upload_file(
            run_id, local_path, artifact_dest(local_path, artifact_path)
        )
        return ArtifactInfo.from_dict(rec)

    def upload_dir(
        self,
        run_id: str,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: bool | None = None,
    ) -> builtins.list[ArtifactInfo]:
        """Upload a directory tree under ``artifact_path`` (None: the root), several files at a time."""
        return [
            ArtifactInfo.from_dict(r)
            for r in self.transfer(progress).upload_dir(run_id, local_dir, artifact_path)
        ]

    def list(
        self,
        run_id: str,
        prefix: str | None = None,
        *,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[ArtifactInfo]:
        """Lazily page through a run's artifacts in path order (``prefix``: e.g. ``"model/"``)."""

        if prefix:
            sdk_check(prefix, allow_empty=True)

        def fetch(token: str | None) -> Page[ArtifactInfo]:
            params = {"prefix": prefix, "max_results": page_size, "page_token": token}
            data = self._client.request("GET", f"/runs/{quote_segment(run_id)}/artifacts", params=params)
            return Page.from_dict(data, ArtifactInfo.from_dict)

        return Paginator(fetch, limit=limit)

    def download(
        self, run_id: str, path: str, dst: str | os.PathLike[str] = ".", *, progress: bool | None = None
    ) -> Path:
        """Download one artifact, or every artifact under a folder ``path``, verifying each sha256.

        One file: a ``dst`` ending with "/" or naming an existing directory means "into it" (the
        file keeps its name, missing folders are created); any other ``dst`` is the file to write.
        A folder: ``dst`` is the directory that receives the tree below ``path``. Returns the path
        written (the file, or the directory) and logs it at INFO.
        A mismatch raises ``ArtifactError`` and leaves no file behind."""
        t = self.transfer(progress)
        clean = path.strip("/")
        sdk_check(clean, allow_empty=True)
        if clean and not path.endswith("/"):
            try:
                return t.download(run_id, clean, dst)
            except NotFoundError:
                pass  # maybe a folder
        items = builtins.list(self.list(run_id, prefix=f"{clean}/" if clean else None))
        if not items:
            raise NotFoundError(404, "NOT_FOUND", f"No artifact {path!r} in run {run_id!r}", {"path": path})
        root = Path(dst).resolve()
        for a in items:
            rel = a.path[len(clean) + 1 :] if clean else a.path
            target = (root / rel).resolve()
            if root not in target.parents:
                raise ValueError(f"refusing to write outside {root}: {a.path!r}")
            t.download(run_id, a.path, target)
        return root

    def delete(self, run_id: str, path: str) -> None:
        from urllib.parse import quote

        sdk_check(path.strip("/"))
        self._client.request("DELETE", f"/runs/{quote_segment(run_id)}/artifacts/{quote(path.strip('/'))}")
