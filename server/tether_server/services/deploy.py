"""Deployment reads: resolve a stage or alias to a version in one call, ETags, file and archive streams.

A stage resolves to the newest version in it (Production holds at most one). The ETag is weak and
derived from (model, version row, version.updated_at): any stage or alias move, or a description edit,
bumps ``updated_at``, so pollers revalidate with one indexed query and a permission check.
"""

from __future__ import annotations

import hashlib
import tarfile
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import Principal
from ..errors import NotFound
from ..models.registry import ModelAlias, ModelVersion, ModelVersionFile, ModelVersionInput, RegisteredModel
from . import permissions
from . import registry as reg

PRESIGN_SECONDS = 3600


def _pointer_query(name: str, *, stage: str | None, alias: str | None) -> Any:
    q = select(RegisteredModel.id, ModelVersion.id, ModelVersion.version, ModelVersion.updated_at) \
        .join(ModelVersion, ModelVersion.model_id == RegisteredModel.id).where(RegisteredModel.name == name)
    if alias is not None:
        return q.join(ModelAlias, ModelAlias.version_id == ModelVersion.id).where(ModelAlias.alias == alias)
    return q.where(ModelVersion.stage == stage).order_by(ModelVersion.version.desc()).limit(1)


def resolve(session: Session, actor: Principal, name: str, *, stage: str | None = None, alias: str | None = None,
            version: int | None = None) -> tuple[int, int, int, str]:
    """(model_id, version_id, version, etag) for a stage, alias or number; NotFound with a clear message."""
    model = session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)) \
        if isinstance(name, str) and len(name) <= 128 else None
    if model is None:
        raise NotFound(f"Model {str(name)[:128]!r} not found")
    permissions.require(session, actor, "model", model, "READ", f"Model {name!r}")
    if version is not None:
        q = select(RegisteredModel.id, ModelVersion.id, ModelVersion.version, ModelVersion.updated_at).join(
            ModelVersion, ModelVersion.model_id == RegisteredModel.id).where(
            RegisteredModel.id == model, ModelVersion.version == version)
        what = f"version {version}"
    else:
        stage = reg.canonical_stage(stage) if alias is None else None
        q = _pointer_query(name, stage=stage, alias=alias)
        what = f"alias {alias!r}" if alias is not None else f"a version in {stage}"
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"Model {name!r} has no {what}", {"model": name, "stage": stage, "alias": alias})
    model_id, vid, number, updated = row
    tag = hashlib.sha1(f"{model_id}:{vid}:{updated}".encode()).hexdigest()[:24]
    return model_id, vid, number, f'W/"{tag}"'


def describe_version(session: Session, store: Any, presign: bool, base_url: str, name: str,
                     version_id: int) -> dict[str, Any]:
    """Everything a deployment needs: version, run, datasets, metadata and files with download URLs."""
    mv = session.get(ModelVersion, version_id)
    assert mv is not None
    files = list(session.scalars(select(ModelVersionFile).where(ModelVersionFile.version_id == mv.id)
                                 .order_by(ModelVersionFile.path)))
    inputs = session.scalars(select(ModelVersionInput).where(ModelVersionInput.version_id == mv.id))
    prefix = f"{base_url}/api/v1/models/{name}/versions/{mv.version}"
    return {
        **version_summary(mv, name, reg.aliases_of(session, [mv.id])[mv.id]),
        "datasets": [{"name": i.dataset_name, "hash": i.root_hash, "context": i.context,
                      "dataset_version_id": i.dataset_version_id} for i in inputs],
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256,
                   "download_url": _file_url(store, presign, f, prefix)} for f in files],
        "archive_url": f"{prefix}/download",
    }


def version_summary(mv: ModelVersion, name: str, aliases: list[str]) -> dict[str, Any]:
    return {"model": name, "version": mv.version, "stage": mv.stage, "aliases": aliases, "run_id": mv.run_id,
            "artifact_path": mv.artifact_path, "description": mv.description, "metadata": mv.meta,
            "total_bytes": mv.total_bytes, "created_at": mv.created_at, "updated_at": mv.updated_at}


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
    return [(f.path, f.size, f.storage_key) for f in session.scalars(
        select(ModelVersionFile).where(ModelVersionFile.version_id == version_id).order_by(ModelVersionFile.path))]


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
