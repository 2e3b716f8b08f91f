"""Deployment reads: resolve a stage or alias to a version in one call, ETags, file and archive streams.

A stage resolves to the newest version in it (Production holds at most one). The ETag is weak and
derived from (model, version row, version.updated_at): any stage or alias move, or a description edit,
bumps ``updated_at``, so pollers revalidate with one indexed query and a permission check.
"""

from __future__ import annotations

import functools
import hashlib
import tarfile
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import NotFound
from ...models.registry import ModelAlias, ModelVersion, ModelVersionFile, ModelVersionInput, RegisteredModel
from ..identity import permissions
from . import catalog as reg

PRESIGN_SECONDS = 3600


@functools.cache
def _resolve_stmt(kind: str, with_grant: bool) -> Any:
    """One prebuilt query: the model, the caller's grant and the pointed-to version (outer-joined,
    so a model with nothing in the stage still answers with its id: a clear 404, not a vague one).
    Pollers revalidate with exactly this query."""
    mv = ModelVersion
    if kind == "alias":
        on = and_(ModelAlias.model_id == RegisteredModel.id, ModelAlias.alias == bindparam("alias"))
        q = select(RegisteredModel.id).outerjoin(ModelAlias, on).outerjoin(mv, mv.id == ModelAlias.version_id)
    else:
        cond = mv.stage == bindparam("stage") if kind == "stage" else mv.version == bindparam("version")
        q = select(RegisteredModel.id).outerjoin(mv, and_(mv.model_id == RegisteredModel.id, cond))
    q = q.add_columns(mv.id, mv.version, mv.updated_at)
    if with_grant:
        q = q.add_columns(permissions.bound_grant_level("model", RegisteredModel.id))
    return q.where(RegisteredModel.name == bindparam("name")).order_by(mv.version.desc()).limit(1)


def resolve(
    session: Session,
    actor: Principal,
    name: str,
    *,
    stage: str | None = None,
    alias: str | None = None,
    version: int | None = None,
) -> tuple[int, int, int, str]:
    """(model_id, version_id, version, etag) for a stage, alias or number; NotFound with a clear message."""
    if not isinstance(name, str) or len(name) > 128:
        raise NotFound(f"Model {str(name)[:128]!r} not found")
    params: dict[str, Any] = {"name": name}
    if version is not None:
        kind, what, params["version"] = "version", f"version {version}", version
    elif alias is not None:
        kind, what, params["alias"] = "alias", f"alias {alias!r}", alias
    else:
        stage = reg.canonical_stage(stage)
        kind, what, params["stage"] = "stage", f"version in {stage}", stage
    if not actor.is_admin:
        params["uid"] = actor.id
    row = session.execute(_resolve_stmt(kind, not actor.is_admin), params).first()
    if row is None:
        raise NotFound(f"Model {name!r} not found")
    model_id, vid, number, updated = row[:4]
    granted = None if actor.is_admin else row[4]
    permissions.check_level(permissions.effective_level(actor, granted), "READ", "model", f"Model {name!r}")
    if vid is None:
        raise NotFound(f"Model {name!r} has no {what}", {"model": name, "stage": stage, "alias": alias})
    tag = hashlib.sha1(f"{model_id}:{vid}:{updated}".encode()).hexdigest()[:24]
    return model_id, vid, number, f'W/"{tag}"'


def describe_version(
    session: Session, store: Any, presign: bool, base_url: str, name: str, version_id: int
) -> dict[str, Any]:
    """Everything a deployment needs: version, run, datasets, metadata and files with download URLs."""
    mv = session.get(ModelVersion, version_id)
    assert mv is not None
    files = list(
        session.scalars(
            select(ModelVersionFile)
            .where(ModelVersionFile.version_id == mv.id)
            .order_by(ModelVersionFile.path)
        )
    )
    inputs = session.scalars(select(ModelVersionInput).where(ModelVersionInput.version_id == mv.id))
    prefix = f"{base_url}/api/v1/models/{name}/versions/{mv.version}"
    return {
        **version_summary(mv, name, reg.aliases_of(session, [mv.id])[mv.id]),
        "datasets": [
            {
                "name": i.dataset_name,
                "hash": i.root_hash,
                "context": i.context,
                "dataset_version_id": i.dataset_version_id,
            }
            for i in inputs
        ],
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "download_url": _file_url(store, presign, f, prefix),
            }
            for f in files
        ],
        "archive_url": f"{prefix}/download",
    }


def version_summary(mv: ModelVersion, name: str, aliases: list[str]) -> dict[str, Any]:
    return {
        "model": name,
        "version": mv.version,
        "stage": mv.stage,
        "aliases": aliases,
        "run_id": mv.run_id,
        "artifact_path": mv.artifact_path,
        "description": mv.description,
        "metadata": mv.meta,
        "total_bytes": mv.total_bytes,
        "created_at": mv.created_at,
        "updated_at": mv.updated_at,
    }


def _file_url(store: Any, presign: bool, f: ModelVersionFile, prefix: str) -> str:
    if presign and store.kind == "s3" and getattr(store, "supports_presign", False):
        return store.presign_get(f.storage_key, PRESIGN_SECONDS, f.path.rsplit("/", 1)[-1])
    return f"{prefix}/files/{f.path}"


def get_file(session: Session, actor: Principal, name: str, version: int, path: str) -> ModelVersionFile:
    _model, mv = reg.get_version(session, actor, name, version)
    f = session.get(ModelVersionFile, (mv.id, path))
    if f is None:
        raise NotFound(f"Version {version} of {name!r} has no file {path[:300]!r}")
    return f


def version_files(session: Session, version_id: int) -> list[tuple[str, int, str]]:
    return [
        (f.path, f.size, f.storage_key)
        for f in session.scalars(
            select(ModelVersionFile)
            .where(ModelVersionFile.version_id == version_id)
            .order_by(ModelVersionFile.path)
        )
    ]


def tar_stream(store: Any, files: list[tuple[str, int, str]], root: str) -> Iterator[bytes]:
    """A ustar/pax archive written on the fly: one header, the object's chunks, padding; never buffered."""
    mtime = int(time.time())
    for path, size, key in files:
        info = tarfile.TarInfo(f"{root}/{path}")
        info.size, info.mtime, info.mode = size, mtime, 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        sent = 0
        for chunk in store.open(key):
            sent += len(chunk)
            yield chunk
        if sent != size:
            raise OSError(f"stored object for {path!r} has {sent} bytes, expected {size}")
        if size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
