"""Stage moves (``apply_stage``; Production displaces the current one) and aliases (set, delete)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ....access import Principal
from ....errors import FailedPrecondition, NotFound
from ....models import now_ms
from ....models.registry import ModelAlias, ModelVersion, RegisteredModel
from ...events import publish
from ...events import types as ev
from .models import get_model, lock_model
from .names import check_alias
from .versions import get_version


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
