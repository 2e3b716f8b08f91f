"""``client.datasets``: record dataset versions (content hashes) as run inputs, and read lineage.

    v = client.datasets.log(run_id, "data/train.csv", name="churn", context="training")
    v["root_hash"], v["created"]              # same content again -> same version, created False
    client.datasets.get_version("churn", v["root_hash"])["manifest"]
    client.datasets.diff("churn", old_hash, new_hash)

Hashing happens locally (sha256 per file, a Merkle root over the sorted paths); the data is not
uploaded unless ``upload=True``, which stores the files as run artifacts under
``datasets/<name>/`` and records ``runs:/<run_id>/datasets/<name>`` as the version's source.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

from ..types import Page
from ._base import Resource
from ._paging import Paginator
from .runs import quote_segment

__all__ = ["Datasets", "CONTEXTS"]

CONTEXTS = ("training", "validation", "evaluation")


class Datasets(Resource):
    def log(
        self,
        run_id: str,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        context: str = "training",
        profile: bool = True,
        upload: bool = False,
        source: str | None = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """Hash ``path`` (a file or a directory) and record it as an input of ``run_id``.

        ``profile``: for CSV (and Parquet with pyarrow) also record the schema and a
        ``tether.profile/1`` profile. Returns the version (root_hash, file_count, total_bytes,
        manifest, schema, profile, created)."""
        from .._datasets import dataset_payload

        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, not {context!r}")
        p = Path(path)
        ds_name = name or p.name
        if upload:
            source = source if source is not None else f"runs:/{run_id}/datasets/{ds_name}"
        body = dataset_payload(p, name=ds_name, context=context, profile=profile, source=source)
        if upload:
            self._upload(run_id, p, ds_name, progress)
        # Logging a dataset is idempotent (same content -> same version, one link per context),
        # so a key is only there to let the client retry a POST after a dropped connection.
        return self._client.request(
            "POST",
            f"/runs/{quote_segment(run_id)}/datasets",
            json=body,
            idempotency_key=self._client.new_idempotency_key(),
        )

    def _upload(self, run_id: str, p: Path, name: str, progress: bool | None) -> None:
        arts = self._client.artifacts
        folder = f"datasets/{name}"
        if p.is_dir():
            arts.upload_dir(run_id, p, folder, progress=progress)
        else:
            arts.upload(run_id, p, folder, progress=progress)

    def list(self, *, page_size: int | None = None, limit: int | None = None) -> Paginator[dict[str, Any]]:
        """Datasets the caller can see (used by runs it can read, or created by it), by name."""

        def fetch(token: str | None) -> Page[dict[str, Any]]:
            data = self._client.request(
                "GET", "/datasets", params={"max_results": page_size, "page_token": token}
            )
            return Page.from_dict(data, dict)

        return Paginator(fetch, limit=limit)

    def versions(self, name: str) -> builtins.list[dict[str, Any]]:
        return self._client.request("GET", f"/datasets/{quote_segment(name)}/versions")["items"]

    def get_version(self, name: str, root_hash: str) -> dict[str, Any]:
        """One version with its manifest; ``root_hash`` may be a prefix of at least 8 hex digits."""
        return self._client.request(
            "GET", f"/datasets/{quote_segment(name)}/versions/{quote_segment(root_hash)}"
        )

    def runs(self, name: str, root_hash: str) -> builtins.list[dict[str, Any]]:
        """The runs (that the caller can read) which used this version, with their context."""
        path = f"/datasets/{quote_segment(name)}/versions/{quote_segment(root_hash)}/runs"
        return self._client.request("GET", path)["items"]

    def diff(self, name: str, from_hash: str, to_hash: str) -> dict[str, Any]:
        """Files added, removed and changed between two versions of one dataset."""
        return self._client.request(
            "GET", f"/datasets/{quote_segment(name)}/diff", params={"from": from_hash, "to": to_hash}
        )

    def inputs(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """The dataset versions a run used (name, root_hash, context, sizes)."""
        return self._client.request("GET", f"/runs/{quote_segment(run_id)}/inputs")["items"]
