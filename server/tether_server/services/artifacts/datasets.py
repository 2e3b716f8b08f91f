"""Datasets: versions keyed by content (Merkle root), run inputs, listing and version diffs.

A version is unique on (dataset name, root hash): logging the same content again reuses it. The
server re-derives the root hash from the manifest, so a row's hash always matches its file list.

Visibility (filtered in SQL): a version is visible to a caller who can READ the experiment of some
run that used it, or who created it; a dataset is visible when one of its versions is, or when the
caller created it. Admins see everything. Anything else reads as 404, like a missing name.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument, NotFound
from ...models import Dataset, DatasetVersion, Run, RunInput
from .. import paging
from ..identity import permissions
from ..tracking import runs

CONTEXTS = ("training", "validation", "evaluation")
MAX_FILES = 200_000
_HEX = re.compile(r"^[0-9a-f]{64}$")


def merkle_root(manifest: list[dict[str, Any]]) -> str:
    """sha256 over ``<path>\\0<sha256>\\n`` lines of the files sorted by relative path (format v1)."""
    h = hashlib.sha256(b"tether-dataset-v1\n")
    for f in sorted(manifest, key=lambda e: e["path"]):
        h.update(f["path"].encode() + b"\0" + f["sha256"].encode() + b"\n")
    return h.hexdigest()


def _check_manifest(manifest: Any) -> list[dict[str, Any]]:
    if not isinstance(manifest, list) or not manifest or len(manifest) > MAX_FILES:
        raise InvalidArgument(f"manifest must list 1..{MAX_FILES} files", {"field": "manifest"})
    out, seen = [], set()
    from .files import check_path

    for i, f in enumerate(manifest):
        try:
            path, sha, size = check_path(f["path"]), str(f["sha256"]).lower(), int(f["size"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("manifest entries need path, sha256 and size", {"index": i}) from None
        if not _HEX.match(sha) or size < 0 or path in seen:
            raise InvalidArgument("bad or duplicate manifest entry", {"index": i, "path": path})
        seen.add(path)
        out.append({"path": path, "sha256": sha, "size": size})
    return sorted(out, key=lambda e: e["path"])


_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_name(name: str) -> str:
    """A dataset name is one URL path segment (``/datasets/<name>/...``): no slash, backslash or
    control characters, no surrounding blanks, 1-250 characters."""
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= 250
        or name != name.strip()
        or _BAD_NAME.search(name)
        or name in (".", "..")
    ):
        raise InvalidArgument(
            "Dataset names are 1-250 characters without '/', '\\', control characters or surrounding blanks",
            {"field": "name"},
        )
    return name


def log_dataset(
    session: Session,
    actor: Principal,
    run_id: str,
    *,
    name: str,
    context: str,
    manifest: Any,
    root_hash: str | None = None,
    schema: Any = None,
    profile: Any = None,
    source: str = "",
) -> tuple[DatasetVersion, bool]:
    check_name(name)
    run = runs.get_run(session, actor, run_id, "EDIT")
    if context not in CONTEXTS:
        raise InvalidArgument(f"context must be one of {list(CONTEXTS)}", {"field": "context"})
    files = _check_manifest(manifest)
    root = merkle_root(files)
    if root_hash and root_hash.lower() != root:
        raise InvalidArgument("root_hash does not match the manifest", {"expected": root})
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        ds = Dataset(name=name, created_by=actor.id)
        session.add(ds)
        session.flush()
    version = session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id, DatasetVersion.root_hash == root)
    )
    created = version is None
    if version is None:
        version = DatasetVersion(
            dataset_id=ds.id,
            root_hash=root,
            file_count=len(files),
            total_bytes=sum(f["size"] for f in files),
            manifest=files,
            schema=schema,
            profile=profile,
            source=(source or "")[:1000],
            created_by=actor.id,
        )
        session.add(version)
        session.flush()
    link = session.get(RunInput, (run.id, version.id, context))
    if link is None:
        session.add(RunInput(run_id=run.id, dataset_version_id=version.id, context=context))
        session.flush()
    return version, created


def version_visible(actor: Principal) -> ColumnElement[bool]:
    """WHERE clause on ``DatasetVersion``: used by a run the caller can read, or created by the caller."""
    if actor.is_admin:
        return DatasetVersion.id.is_not(None)
    used = exists().where(
        RunInput.dataset_version_id == DatasetVersion.id,
        Run.id == RunInput.run_id,
        permissions.filter_clause(actor, "experiment", Run.experiment_id, "READ"),
    )
    return or_(used, DatasetVersion.created_by == actor.id)


def dataset_visible(actor: Principal) -> ColumnElement[bool]:
    """WHERE clause on ``Dataset``: one of its versions is visible, or the caller created it."""
    if actor.is_admin:
        return Dataset.id.is_not(None)
    some = exists().where(DatasetVersion.dataset_id == Dataset.id, version_visible(actor)).correlate(Dataset)
    return or_(some, Dataset.created_by == actor.id)


def _dataset(session: Session, actor: Principal, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name, dataset_visible(actor)))
    if ds is None:
        raise NotFound(f"Dataset {name!r} not found")
    return ds


def list_datasets(
    session: Session, actor: Principal, max_results: int, page_token: str | None
) -> tuple[list[Dataset], str | None]:
    after = (paging.decode(page_token, "datasets") or {}).get("after", "")
    rows = list(
        session.scalars(
            select(Dataset)
            .where(Dataset.name > after, dataset_visible(actor))
            .order_by(Dataset.name)
            .limit(max_results + 1)
        )
    )
    return paging.trim(rows, max_results, "datasets", "after", lambda r: r.name)


def list_versions(session: Session, actor: Principal, name: str) -> list[DatasetVersion]:
    ds = _dataset(session, actor, name)
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == ds.id, version_visible(actor))
            .order_by(DatasetVersion.created_at, DatasetVersion.id)
        )
    )


def get_version(session: Session, actor: Principal, name: str, root_hash: str) -> DatasetVersion:
    """A visible version by full root hash or a unique prefix of at least 8 hex digits."""
    prefix = root_hash.lower()[:64]
    if len(prefix) < 8 or not all(c in "0123456789abcdef" for c in prefix):
        raise NotFound(f"Version {root_hash[:64]!r} of dataset {name!r} not found")
    ds = _dataset(session, actor, name)
    found = list(
        session.scalars(
            select(DatasetVersion)
            .where(
                DatasetVersion.dataset_id == ds.id,
                DatasetVersion.root_hash.startswith(prefix, autoescape=True),
                version_visible(actor),
            )
            .limit(2)
        )
    )
    if not found:
        raise NotFound(f"Version {root_hash[:64]!r} of dataset {name!r} not found")
    if len(found) > 1:
        raise InvalidArgument(
            f"Version prefix {prefix!r} is ambiguous; give more digits", {"root_hash": prefix}
        )
    return found[0]


def runs_using(session: Session, actor: Principal, version: DatasetVersion) -> list[dict[str, Any]]:
    """Runs that used a version, limited (in SQL) to experiments the caller can read."""
    q = (
        select(RunInput.run_id, RunInput.context, Run.experiment_id)
        .join(Run, Run.id == RunInput.run_id)
        .where(
            RunInput.dataset_version_id == version.id,
            permissions.filter_clause(actor, "experiment", Run.experiment_id, "READ"),
        )
        .order_by(RunInput.created_at)
    )
    return [{"run_id": r, "context": c, "experiment_id": e} for r, c, e in session.execute(q)]


def run_inputs(session: Session, actor: Principal, run_id: str) -> list[dict[str, Any]]:
    runs.get_run(session, actor, run_id, "READ")
    q = (
        select(RunInput.context, DatasetVersion, Dataset.name)
        .join(DatasetVersion, DatasetVersion.id == RunInput.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(RunInput.run_id == run_id)
    )
    return [
        {
            "context": c,
            "name": n,
            "root_hash": v.root_hash,
            "file_count": v.file_count,
            "total_bytes": v.total_bytes,
        }
        for c, v, n in session.execute(q)
    ]


def diff_versions(session: Session, actor: Principal, name: str, a: str, b: str) -> dict[str, Any]:
    va, vb = get_version(session, actor, name, a), get_version(session, actor, name, b)
    fa = {f["path"]: f for f in va.manifest}
    fb = {f["path"]: f for f in vb.manifest}
    return {
        "name": name,
        "from": va.root_hash,
        "to": vb.root_hash,
        "added": [fb[p] for p in sorted(fb.keys() - fa.keys())],
        "removed": [fa[p] for p in sorted(fa.keys() - fb.keys())],
        "changed": [
            {"path": p, "from": fa[p], "to": fb[p]}
            for p in sorted(fa.keys() & fb.keys())
            if fa[p]["sha256"] != fb[p]["sha256"]
        ],
    }


def inputs_of_runs(session: Session, run_ids: list[str]) -> dict[str, list[tuple[str, str, DatasetVersion]]]:
    """(context, dataset name, version) per run, in one query, for runs the caller already read."""
    out: dict[str, list[tuple[str, str, DatasetVersion]]] = {rid: [] for rid in run_ids}
    if not run_ids:
        return out
    q = (
        select(RunInput.run_id, RunInput.context, Dataset.name, DatasetVersion)
        .join(DatasetVersion, DatasetVersion.id == RunInput.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(RunInput.run_id.in_(run_ids))
        .order_by(RunInput.created_at, Dataset.name, RunInput.context)
    )
    for rid, ctx, name, version in session.execute(q):
        out[rid].append((ctx, name, version))
    return out
