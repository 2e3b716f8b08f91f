"""Registered models and their immutable versions, aliases and stage moves.

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
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from ...jsonutil import float_out
from ...models import Artifact, Dataset, DatasetVersion, RunInput, now_ms
from ...models.registry import (
    STAGES,
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    ModelVersionInput,
    RegisteredModel,
)
from .. import paging
from ..artifacts import gc
from ..events import after_commit, publish
from ..events import types as ev
from ..explain import records as explain_records
from ..identity import permissions
from ..tracking import runs
from ..validation import check_tags

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_STAGE_BY_LOWER = {s.lower(): s for s in STAGES}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument(
            "Model names are 1-128 characters of letters, digits, '_', '-' and '.', starting "
            "with a letter or digit",
            {"field": "name"},
        )
    return name


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias.lower() in _STAGE_BY_LOWER:
        raise InvalidArgument(
            "Aliases are 1-64 characters of letters, digits, '_' and '-', starting with a "
            "letter, and are not stage names",
            {"field": "alias"},
        )
    return alias


def canonical_stage(stage: Any) -> str:
    found = _STAGE_BY_LOWER.get(str(stage).lower()) if isinstance(stage, str) else None
    if found is None:
        raise InvalidArgument(f"stage must be one of {list(STAGES)} (case-insensitive)", {"field": "stage"})
    return found


def lock_model(session: Session, model_id: int) -> None:
    """Serialize registry writes per model (PostgreSQL row lock; SQLite writers are already serialized)."""
    session.execute(select(RegisteredModel.id).where(RegisteredModel.id == model_id).with_for_update())


# ---------------------------------------------------------------- models


def create_model(
    session: Session,
    actor: Principal,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
    request_id: str = "",
) -> RegisteredModel:
    if not actor.can_write:
        raise PermissionDenied("Registering models needs the writer role or higher")
    check_name(name)
    if session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)) is not None:
        raise AlreadyExists(f"Model {name!r} already exists", {"name": name})
    model = RegisteredModel(
        name=name, description=description or "", tags=check_tags(tags), owner_id=actor.id
    )
    session.add(model)
    session.flush()
    permissions.set_grant(session, actor, actor.id, "model", model.id, "MANAGE", quiet=True)
    publish(session, ev.ModelCreated(actor=actor, request_id=request_id, model_id=model.id, model=name))
    return model


def get_model(session: Session, actor: Principal, name: str, level: str = "READ") -> RegisteredModel:
    model = (
        session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
        if isinstance(name, str) and len(name) <= 128
        else None
    )
    if model is None:
        raise NotFound(f"Model {str(name)[:128]!r} not found")
    permissions.require(session, actor, "model", model.id, level, f"Model {name!r}")
    return model


def list_models(
    session: Session,
    actor: Principal,
    *,
    name_like: str | None = None,
    max_results: int = 100,
    page_token: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    where_key: str = "",
) -> tuple[list[RegisteredModel], str | None]:
    """A page of the models the caller reads, by id; ``where`` adds conditions on
    ``RegisteredModel`` (matched before paging), ``where_key`` names them in the page token's scope."""
    scope = paging.scope_of("models", name_like, where_key)
    tok = paging.decode(page_token, scope)
    q = select(RegisteredModel).where(permissions.filter_clause(actor, "model", RegisteredModel.id), *where)
    if name_like:
        q = q.where(RegisteredModel.name.like(name_like.replace("*", "%")))
    if tok:
        q = q.where(RegisteredModel.id > int(tok["after"]))
    rows = list(session.scalars(q.order_by(RegisteredModel.id).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "after", lambda r: r.id)


def update_model(
    session: Session,
    actor: Principal,
    name: str,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    request_id: str = "",
) -> RegisteredModel:
    model = get_model(session, actor, name, "EDIT")
    if description is not None:
        model.description = description
    if tags is not None:
        model.tags = {**(model.tags or {}), **check_tags(tags)}
    model.updated_at = now_ms()
    publish(
        session,
        ev.ModelUpdated(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            description_changed=description is not None,
            tags=sorted(tags or {}),
        ),
    )
    return model


def delete_model(session: Session, actor: Principal, store: Any, name: str, request_id: str = "") -> None:
    model = get_model(session, actor, name, "MANAGE")
    if (
        session.scalar(
            select(ModelVersion.id).where(
                ModelVersion.model_id == model.id, ModelVersion.stage == "Production"
            )
        )
        is not None
    ):
        raise FailedPrecondition(f"Model {name!r} has a Production version; archive it before deleting")
    keys = list(
        session.scalars(
            select(ModelVersionFile.storage_key).join(ModelVersion).where(ModelVersion.model_id == model.id)
        )
    )
    publish(session, ev.ModelDeleted(actor=actor, request_id=request_id, model_id=model.id, model=name))
    session.delete(model)
    _delete_after_commit(session, store, keys)


def _delete_after_commit(session: Session, store: Any, keys: list[str]) -> None:
    def purge() -> None:
        for key in keys:
            store.delete(key)

    after_commit(session, purge)


# ---------------------------------------------------------------- versions


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


# ---------------------------------------------------------------- stages and aliases


def apply_stage(
    session: Session,
    actor: Principal,
    model: RegisteredModel,
    mv: ModelVersion,
    to_stage: str,
    *,
    archive_existing: bool,
    comment: str = "",
    request_id: str = "",
    transition_id: int | None = None,
) -> None:
    """Move ``mv`` to ``to_stage`` (caller holds the model lock). Production displaces the current one."""
    if to_stage == "Production":
        current = session.scalar(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id,
                ModelVersion.stage == "Production",
                ModelVersion.id != mv.id,
            )
        )
        if current is not None:
            if not archive_existing:
                raise FailedPrecondition(
                    f"Version {current.version} is in Production; archive it first or "
                    "approve with archive_existing",
                    {"production_version": current.version},
                )
            _set_stage(
                session,
                actor,
                model,
                current,
                "Archived",
                f"displaced by version {mv.version}",
                request_id,
                transition_id,
            )
            session.flush()  # the partial unique index sees the archive before the promotion
    _set_stage(session, actor, model, mv, to_stage, comment, request_id, transition_id)
    session.flush()


def _set_stage(
    session: Session,
    actor: Principal,
    model: RegisteredModel,
    mv: ModelVersion,
    to_stage: str,
    comment: str,
    request_id: str,
    transition_id: int | None,
) -> None:
    before = mv.stage
    mv.stage = to_stage
    mv.updated_at = now_ms()
    publish(
        session,
        ev.StageChanged(
            actor=actor,
            request_id=request_id,
            comment=comment,
            model_id=model.id,
            model=model.name,
            version=mv.version,
            from_stage=before,
            to_stage=to_stage,
            transition_id=transition_id,
        ),
    )


def set_alias(
    session: Session, actor: Principal, name: str, alias: str, version: int, request_id: str = ""
) -> ModelAlias:
    check_alias(alias)
    model, mv = get_version(session, actor, name, version, "EDIT")
    lock_model(session, model.id)
    row = session.get(ModelAlias, (model.id, alias))
    before = None
    if row is None:
        row = ModelAlias(model_id=model.id, alias=alias, version_id=mv.id, updated_by=actor.id)
        session.add(row)
    else:
        old = session.get(ModelVersion, row.version_id)
        before = old.version if old else None
        if old is not None:
            old.updated_at = now_ms()
        row.version_id, row.updated_by, row.updated_at = mv.id, actor.id, now_ms()
    mv.updated_at = now_ms()
    publish(
        session,
        ev.AliasChanged(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            alias=alias,
            version=version,
            previous_version=before,
        ),
    )
    session.flush()
    return row


def delete_alias(session: Session, actor: Principal, name: str, alias: str, request_id: str = "") -> None:
    model = get_model(session, actor, name, "EDIT")
    row = session.get(ModelAlias, (model.id, alias))
    if row is None:
        raise NotFound(f"Model {name!r} has no alias {alias!r}")
    old = session.get(ModelVersion, row.version_id)
    if old is not None:
        old.updated_at = now_ms()
    publish(
        session,
        ev.AliasChanged(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            alias=alias,
            version=None,
            previous_version=old.version if old else None,
        ),
    )
    session.delete(row)


def model_summaries(session: Session, models: list[RegisteredModel]) -> list[dict[str, Any]]:
    """Models as API dicts with latest version, versions per stage and aliases (three queries)."""
    ids = [m.id for m in models]
    latest: dict[int, int] = (
        dict(
            session.execute(
                select(ModelVersion.model_id, func.max(ModelVersion.version))
                .where(ModelVersion.model_id.in_(ids))
                .group_by(ModelVersion.model_id)
            ).all()
        )
        if ids
        else {}
    )
    stages: dict[int, dict[str, list[int]]] = {i: {} for i in ids}
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for mid, num, st in session.execute(
            select(ModelVersion.model_id, ModelVersion.version, ModelVersion.stage)
            .where(ModelVersion.model_id.in_(ids), ModelVersion.stage != "None")
            .order_by(ModelVersion.version)
        ):
            stages[mid].setdefault(st, []).append(num)
        for mid, alias, num in session.execute(
            select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
            .where(ModelAlias.model_id.in_(ids))
        ):
            aliases[mid][alias] = num
    return [
        {
            "id": m.id,
            "name": m.name,
            "description": m.description,
            "tags": m.tags or {},
            "owner_id": m.owner_id,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "latest_version": latest.get(m.id),
            "stages": stages[m.id],
            "aliases": aliases[m.id],
        }
        for m in models
    ]
