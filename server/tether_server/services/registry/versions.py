"""Version reads and writes the MLflow translation layer (``api/mlflow/registry``) needs beyond
``catalog``: the newest version per stage, a permission-filtered version search, and version tags
(kept in the version's metadata under ``extra.mlflow_tags``; the files and the rest of the metadata
stay immutable)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...models import now_ms
from ...models.registry import STAGES, ModelVersion, RegisteredModel
from .. import paging
from ..events import publish
from ..events import types as ev
from ..identity import permissions
from ..validation import check_key, check_value
from .catalog import get_version

TAGS_KEY = "mlflow_tags"


def latest_per_stage(session: Session, model_id: int) -> list[ModelVersion]:
    """The newest version in each stage (MLflow's ``latest_versions``), in stage order."""
    out = []
    for stage in STAGES:
        mv = session.scalar(
            select(ModelVersion)
            .where(ModelVersion.model_id == model_id, ModelVersion.stage == stage)
            .order_by(ModelVersion.version.desc())
            .limit(1)
        )
        if mv is not None:
            out.append(mv)
    return out


def search_versions(
    session: Session,
    actor: Principal,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    where_key: str = "",
    max_results: int = 100,
    page_token: str | None = None,
) -> tuple[list[tuple[ModelVersion, str]], str | None]:
    """A page of (version, model name) on models the caller reads, by model name then newest
    version first. ``where`` adds conditions on ``ModelVersion``/``RegisteredModel`` (matched before
    paging); ``where_key`` names them in the page token's scope."""
    scope = paging.scope_of("versions", where_key)
    token = paging.decode(page_token, scope)
    offset = int(token["o"]) if token else 0
    q = (
        select(ModelVersion, RegisteredModel.name)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(permissions.filter_clause(actor, "model", RegisteredModel.id), *where)
        .order_by(RegisteredModel.name, ModelVersion.version.desc(), ModelVersion.id)
        .offset(offset)
        .limit(max_results + 1)
    )
    rows = [(mv, n) for mv, n in session.execute(q)]
    return paging.trim(rows, max_results, scope, "o", lambda _r: offset + max_results)


def version_tags(mv: ModelVersion) -> dict[str, str]:
    extra = (mv.meta or {}).get("extra") or {}
    tags = extra.get(TAGS_KEY) if isinstance(extra, dict) else None
    return dict(tags) if isinstance(tags, dict) else {}


def set_version_tags(
    session: Session,
    actor: Principal,
    name: str,
    version: int,
    tags: dict[str, str | None],
    request_id: str = "",
) -> ModelVersion:
    """Set (or, with a None value, remove) version tags; EDIT on the model, audited as an update."""
    model, mv = get_version(session, actor, name, version, "EDIT")
    current = version_tags(mv)
    for key, value in tags.items():
        check_key(key, "tag key")
        if value is None:
            current.pop(key, None)
        else:
            current[key] = check_value(value, "tag value")
    meta = dict(mv.meta or {})
    meta["extra"] = {**(meta.get("extra") or {}), TAGS_KEY: current}
    mv.meta = meta  # a new dict: the JSON column sees the change
    mv.updated_at = now_ms()
    publish(
        session,
        ev.ModelVersionUpdated(
            actor=actor, request_id=request_id, model_id=model.id, model=name, version=version
        ),
    )
    return mv
