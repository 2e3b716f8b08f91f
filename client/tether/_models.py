"""``client.models``: the model registry (register, reviewed transitions, deployment fetch, verified download).

client.models.register(run_id, "model", "churn")
req = client.models.request_transition("churn", 1, "Production", comment="auc 0.91")
reviewer_client.models.approve(req["id"], comment="looks good")
prod = client.models.get_production("churn")           # version, run, datasets, metadata, files
client.models.download("churn", stage="production", dst="./model")   # sha256-verified
"""

from __future__ import annotations

import builtins
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .errors import NotFoundError, TetherError

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Models", "ChecksumError"]

CHUNK = 1024 * 1024


class ChecksumError(TetherError):
    """A downloaded file's size or sha256 differs from the version's manifest."""


def _q(part: str) -> str:
    return quote(str(part), safe="")


class Models:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._client.request(method, path, **kw)

    # ---------------------------------------------------------------- models and versions

    def create(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return self._call("POST", "/models", json={"name": name, "description": description, "tags": tags})

    def get(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/models/{_q(name)}")

    def list(self, *, name: str | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = self._call(
                "GET", "/models", params={"name": name, "max_results": page_size, "page_token": token}
            )
            yield from page["items"]
            token = page.get("next_page_token")
            if not token:
                return

    def register(
        self,
        run_id: str,
        artifact_path: str,
        name: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
        create_model: bool = True,
    ) -> dict[str, Any]:
        """Register the run's artifacts under ``artifact_path`` as a new version (creating the model if needed)."""
        body = {
            "run_id": run_id,
            "artifact_path": artifact_path,
            "description": description,
            "metadata": metadata,
        }
        try:
            return self._call("POST", f"/models/{_q(name)}/versions", json=body)
        except NotFoundError:
            if not create_model:
                raise
            try:
                self.create(name)
            except TetherError as exc:
                if getattr(exc, "status", None) != 409:
                    raise
            return self._call("POST", f"/models/{_q(name)}/versions", json=body)

    def get_version(self, name: str, version: int) -> dict[str, Any]:
        return self._call("GET", f"/models/{_q(name)}/versions/{int(version)}")

    def get_stage(self, name: str, stage: str) -> dict[str, Any]:
        return self._call("GET", f"/models/{_q(name)}/stages/{_q(stage)}")

    def get_production(self, name: str) -> dict[str, Any]:
        """The Production version in one call: version, run id, datasets, metadata and files."""
        return self.get_stage(name, "production")

    def get_alias(self, name: str, alias: str) -> dict[str, Any]:
        return self._call("GET", f"/models/{_q(name)}/aliases/{_q(alias)}")

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        return self._call("PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": int(version)})

    # ---------------------------------------------------------------- transitions

    def request_transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        *,
        comment: str = "",
        archive_existing: bool | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/models/{_q(name)}/versions/{int(version)}/transition-requests",
            json={"to_stage": to_stage, "comment": comment, "archive_existing": archive_existing},
        )

    def approve(self, request_id: int, *, comment: str = "") -> dict[str, Any]:
        return self._call(
            "POST", f"/transition-requests/{int(request_id)}/approve", json={"comment": comment}
        )

    def reject(self, request_id: int, *, comment: str = "") -> dict[str, Any]:
        return self._call("POST", f"/transition-requests/{int(request_id)}/reject", json={"comment": comment})

    def cancel(self, request_id: int, *, comment: str = "") -> dict[str, Any]:
        return self._call("POST", f"/transition-requests/{int(request_id)}/cancel", json={"comment": comment})

    def list_requests(
        self, *, status: str = "pending", model: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        token = None
        while True:
            page = self._call(
                "GET", "/transition-requests", params={"status": status, "model": model, "page_token": token}
            )
            out.extend(page["items"])
            token = page.get("next_page_token")
            if not token:
                return out

    # ---------------------------------------------------------------- download

    def download(
        self,
        name: str,
        stage: str | None = "production",
        dst: str | os.PathLike[str] = ".",
        *,
        alias: str | None = None,
        version: int | None = None,
    ) -> Path:
        """Fetch every file of the version into ``dst``, verifying size and sha256; returns ``dst``."""
        if version is not None:
            info = self.get_version(name, version)
        elif alias is not None:
            info = self.get_alias(name, alias)
        else:
            info = self.get_stage(name, stage or "production")
        root = Path(dst).resolve()
        for f in info["files"]:
            target = (root / f["path"]).resolve()
            if root != target and root not in target.parents:
                raise ChecksumError(f"refusing to write outside {root}: {f['path']!r}")
            self._fetch(f["download_url"], target, f["size"], f["sha256"])
        return root

    def _fetch(self, url: str, target: Path, size: int, sha256: str) -> None:
        import requests

        same_origin = urlsplit(url).netloc == urlsplit(self._client.base_url).netloc
        headers = self._client._headers(None, has_body=False) if same_origin else {}
        headers.pop("Accept", None)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        h, n = hashlib.sha256(), 0
        with requests.get(url, headers=headers, stream=True, timeout=self._client.timeout) as r:
            if r.status_code >= 400:
                from .errors import error_from_response

                raise error_from_response(r.status_code, r.content, r.headers)
            with open(part, "wb") as fh:
                for chunk in r.iter_content(CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    fh.write(chunk)
        if n != size or h.hexdigest() != sha256:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{target.name}: got {n} bytes sha256 {h.hexdigest()}, expected {size} bytes sha256 {sha256}"
            )
        os.replace(part, target)
