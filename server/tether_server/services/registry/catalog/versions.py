"""A registered model's immutable versions: registering one (``stage_files`` then ``create_version``),
reading, listing, updating and deleting them.

Immutability: registering a version COPIES each artifact object into a registry-owned key space,
``registry/<model_id>/<uuid>/<path>``, and records the manifest (path, size, sha256). Copying (rather
than pinning the run's objects) means run deletion, artifact overwrites and gc never touch a
registered version; the cost is storage (one extra copy per registered version).

The copies are made before the write transaction (``stage_files`` on a read session), which then
only allocates the number and inserts rows: a multi-GB copy never holds SQLite's write lock or the
model's numbering lock. A registration that fails afterwards removes its copies; one that dies
mid-way leaves unreferenced objects that gc removes after its grace period.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ....access import Principal
from ....errors import FailedPrecondition, InvalidArgument, NotFound
from ....jsonutil import float_out
from ....models import Artifact, Dataset, DatasetVersion, RunInput, now_ms
from ....models.registry import ModelAlias, ModelVersion, ModelVersionFile, ModelVersionInput, RegisteredModel
from ... import paging
from ...artifacts import gc
from ...events import publish
from ...events import types as ev
from ...explain import records as explain_records
from ...tracking import runs
from .models import _delete_after_commit, get_model
from .names import canonical_stage

logger = logging.getLogger(__name__)


def _source_files(session: Session, run_id: str, path: str) -> list[tuple[Artifact, str]]:
    path = path.strip("/")
    q = select(Artifact).where(Artifact.run_id == run_id)
    if path not in ("", "."):
        q = q.where(or_(Artifact.path == path, Artifact.path.startswith(path + "/", autoescape=True)))
    out = []
    for a in session.scalars(q.order_by(Artifact.path)):
        rel = (
            a.path
            if path in ("", ".")
            else (a.path.rsplit("/", 1)[-1] if a.path == path else a.path[len(path) + 1 :])
        )
        out.append((a, rel))
    if not out:
        raise InvalidArgument(f"Run {run_id!r} has no artifacts under {path!r}", {"field": "artifact_path"})
    return out


def _allocate_version(session: Session, model_id: int) -> int:
    # The UPDATE takes the row lock; a concurrent registration waits, then reads the next number.
    session.execute(
        update(RegisteredModel)
        .where(RegisteredModel.id == model_id)
        .values(next_version=RegisteredModel.next_version + 1, updated_at=now_ms())
    )
    return (
        int(session.scalar(select(RegisteredModel.next_version).where(RegisteredModel.id == model_id)) or 1)
        - 1
    )


def _metadata(session: Session, run: Any, given: dict[str, Any] | None) -> dict[str, Any]:
    given = dict(given or {})
    details = runs.run_details(session, [run])[run.id]
    meta: dict[str, Any] = {k: given.pop(k) for k in ("framework", "signature", "flavor") if k in given}
    meta["extra"] = given
    meta["metrics"] = {k: float_out(m["value"]) for k, m in details["metrics"].items()}
    meta["params"] = details["params"]
    meta["run_name"] = run.name
    return meta


def _snapshot_inputs(session: Session, mv: ModelVersion, run_id: str) -> None:
    q = (
        select(RunInput.dataset_version_id, RunInput.context, Dataset.name, DatasetVersion.root_hash)
        .join(DatasetVersion, DatasetVersion.id == RunInput.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(RunInput.run_id == run_id)
    )
    for dv_id, ctx, ds_name, root in session.execute(q):
        session.add(
            ModelVersionInput(
                version_id=mv.id, dataset_version_id=dv_id, context=ctx, dataset_name=ds_name, root_hash=root
            )
        )


@dataclass
class StagedFiles:
    """A version's files, already copied to keys of their own (``registry/<model>/<uuid>/<path>``)
    by ``stage_files``; ``create_version`` then records them in one short write transaction."""

    model_id: int
    run_id: str
    artifact_path: str
    files: list[tuple[str, str, int, str]]  # (path in the version, storage key, size, sha256)

    def discard(self, store: Any) -> None:
        """Best effort: remove the copies of a registration that did not happen (gc removes any
        left behind once they are older than its grace period)."""
        for _rel, key, _size, _sha in self.files:
            try:
                store.delete(key)
            except Exception:  # noqa: BLE001 - the registration's own error is what the caller sees
                logger.warning("could not remove staged registry object %s", key)


def stage_files(
    session: Session, actor: Principal, store: Any, name: str, run_id: str, artifact_path: str | None
) -> StagedFiles:
    """Check access and copy a run's artifacts under ``artifact_path`` for a new version.

    Only reads the database, so callers run it outside the write transaction: copying gigabytes
    must not hold SQLite's write lock (every training script's logging would wait) or the model's
    version-number lock."""
    model = get_model(session, actor, name, "EDIT")
    run = runs.get_run(session, actor, run_id, "READ")
    if run.lifecycle != "active":
        raise FailedPrecondition(f"Run {run_id!r} is deleted; restore it to register from it")
    staged = StagedFiles(model.id, run.id, artifact_path or "", [])
    prefix = f"{gc.REGISTRY_PREFIX}/{model.id}/{uuid.uuid4().hex}"
    try:
        for art, rel in _source_files(session, run.id, artifact_path or ""):
            key = f"{prefix}/{rel}"
            copied = store.copy(art.storage_key, key)
            staged.files.append((rel, key, art.size, art.sha256))
            if copied.size != art.size:
                raise FailedPrecondition(f"Artifact {art.path!r} changed while it was being registered")
    except BaseException:
        staged.discard(store)
        raise
    return staged


def create_version(
    session: Session,
    actor: Principal,
    store: Any,
    name: str,
    staged: StagedFiles,
    *,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    request_id: str = "",
) -> ModelVersion:
    """Register a version from files ``stage_files`` copied (on a read session, before this
    transaction); if recording it fails, the copies are removed."""
    try:
        return _record_version(session, actor, name, staged, description, metadata, request_id)
    except BaseException:
        staged.discard(store)
        raise


def _record_version(
    session: Session,
    actor: Principal,
    name: str,
    staged: StagedFiles,
    description: str,
    metadata: dict[str, Any] | None,
    request_id: str,
) -> ModelVersion:
    model = get_model(session, actor, name, "EDIT")  # again, inside the transaction
    run = runs.get_run(session, actor, staged.run_id, "READ")
    if model.id != staged.model_id:
        raise FailedPrecondition(f"Model {name!r} was replaced while its files were being copied")
    if run.lifecycle != "active":
        raise FailedPrecondition(f"Run {run.id!r} is deleted; restore it to register from it")
    meta = _metadata(session, run, metadata)
    number = _allocate_version(session, model.id)
    mv = ModelVersion(
        model_id=model.id,
        version=number,
        run_id=run.id,
        artifact_path=staged.artifact_path,
        description=description or "",
        meta=meta,
        created_by=actor.id,
    )
    session.add(mv)
    session.flush()
    for rel, key, size, sha in staged.files:
        session.add(ModelVersionFile(version_id=mv.id, path=rel, size=size, sha256=sha, storage_key=key))
    mv.total_bytes = sum(f[2] for f in staged.files)
    _snapshot_inputs(session, mv, run.id)
    explain_records.copy_from_run(session, mv.id, run.id, actor.id)  # every version carries it
    session.flush()
    publish(
        session,
        ev.ModelVersionCreated(
            actor=actor,
            request_id=request_id,
            comment=description or "",
            model_id=model.id,
            model=model.name,
            version=number,
            run_id=run.id,
            artifact_path=staged.artifact_path,
            files=len(staged.files),
        ),
    )
    return mv


def get_version(
    session: Session, actor: Principal, name: str, version: int, level: str = "READ"
) -> tuple[RegisteredModel, ModelVersion]:
    model = get_model(session, actor, name, level)
    mv = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version)
    )
    if mv is None:
        raise NotFound(f"Model {name!r} has no version {version}")
    return model, mv


def list_versions(
    session: Session,
    actor: Principal,
    name: str,
    *,
    stage: str | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> tuple[list[ModelVersion], str | None]:
    model = get_model(session, actor, name)
    scope = paging.scope_of("versions", model.id, stage)
    tok = paging.decode(page_token, scope)
    q = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if stage:
        q = q.where(ModelVersion.stage == canonical_stage(stage))
    if tok:
        q = q.where(ModelVersion.version < int(tok["before"]))
    rows = list(session.scalars(q.order_by(ModelVersion.version.desc()).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "before", lambda r: r.version)


def update_version(
    session: Session, actor: Principal, name: str, version: int, *, description: str, request_id: str = ""
) -> ModelVersion:
    model, mv = get_version(session, actor, name, version, "EDIT")
    mv.description = description
    mv.updated_at = now_ms()
    publish(
        session,
        ev.ModelVersionUpdated(
            actor=actor, request_id=request_id, model_id=model.id, model=model.name, version=version
        ),
    )
    return mv


def delete_version(
    session: Session, actor: Principal, store: Any, name: str, version: int, request_id: str = ""
) -> None:
    model, mv = get_version(session, actor, name, version, "MANAGE")
    if mv.stage == "Production":
        raise FailedPrecondition(f"Version {version} is in Production; archive it before deleting")
    keys = list(
        session.scalars(select(ModelVersionFile.storage_key).where(ModelVersionFile.version_id == mv.id))
    )
    publish(
        session,
        ev.ModelVersionDeleted(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            version=version,
            run_id=mv.run_id,
        ),
    )
    session.delete(mv)
    _delete_after_commit(session, store, keys)


def aliases_of(session: Session, version_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {v: [] for v in version_ids}
    if version_ids:
        q = select(ModelAlias.version_id, ModelAlias.alias).where(ModelAlias.version_id.in_(version_ids))
        for vid, alias in session.execute(q.order_by(ModelAlias.alias)):
            out[vid].append(alias)
    return out


def version_count(session: Session, model_id: int) -> int:
    return int(session.scalar(select(func.count()).where(ModelVersion.model_id == model_id)) or 0)
