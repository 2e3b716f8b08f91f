"""Registered models: create, read, list (with their summaries), update, delete; the per-model write lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ....access import Principal
from ....errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from ....models import now_ms
from ....models.registry import ModelAlias, ModelVersion, ModelVersionFile, RegisteredModel
from ... import paging
from ...events import after_commit, publish
from ...events import types as ev
from ...identity import permissions
from ...validation import check_tags
from .names import check_name


def lock_model(session: Session, model_id: int) -> None:
    """Serialize registry writes per model (PostgreSQL row lock; SQLite writers are already serialized)."""
    session.execute(select(RegisteredModel.id).where(RegisteredModel.id == model_id).with_for_update())


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
