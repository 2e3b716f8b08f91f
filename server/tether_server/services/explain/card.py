"""The model card of a version: what Tether knows about it, plus what a person must write.

Generated: the version and its model, the training data (datasets with content hashes and a profile
summary), the metrics and params of the source run at registration, the explanation summary, the
approval history (the audit trail's transition and stage rows for this version) and the production
monitoring status. Written by people: ``intended_use`` and ``limitations`` (stored on the version,
``update_card``). ``open_questions`` lists, in plain words, what an auditor would ask about before
trusting the model (no intended use written, no explanation, no training data, never reviewed...).

``build_card`` returns JSON (format ``tether.model_card/1``); ``to_markdown`` renders it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import InvalidArgument
from ...models import AuditEvent, DatasetVersion, User, now_ms
from ...models.registry import ModelVersion, ModelVersionInput, RegisteredModel
from ..events import publish
from ..events import types as ev
from ..registry import catalog as reg
from . import records
from .card_monitoring import monitoring_status

CARD_FORMAT = "tether.model_card/1"
TEXT_LIMIT = 20_000
APPROVAL_ACTIONS = (
    "model.version_created",
    "model.transition_requested",
    "model.transition_approval_added",
    "model.transition_approved",
    "model.transition_rejected",
    "model.transition_cancelled",
    "model.stage_changed",
    "model.explanation_set",
    "model.card_updated",
)
PROFILE_COLUMNS = 50


def update_card(
    session: Session,
    actor: Principal,
    name: str,
    version: int,
    *,
    intended_use: str | None = None,
    limitations: str | None = None,
    request_id: str = "",
) -> ModelVersion:
    """Edit the person-written fields (any stage: it is documentation, and every edit is audited)."""
    changed = {
        k: v for k, v in (("intended_use", intended_use), ("limitations", limitations)) if v is not None
    }
    if not changed:
        raise InvalidArgument("Give intended_use and/or limitations", {"field": "intended_use"})
    for field, text in changed.items():
        if not isinstance(text, str) or len(text) > TEXT_LIMIT:
            raise InvalidArgument(f"{field} is text of at most {TEXT_LIMIT} characters", {"field": field})
    model, mv = reg.get_version(session, actor, name, version, "EDIT")
    for field, text in changed.items():
        setattr(mv, field, text)
    mv.updated_at = now_ms()
    publish(
        session,
        ev.ModelCardUpdated(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            version=version,
            fields=list(changed),
        ),
    )
    return mv


def _profile_summary(profile: dict[str, Any] | None) -> dict[str, Any] | None:
    if not profile or not isinstance(profile.get("columns"), dict):
        return None
    cols = []
    for cname, c in list(profile["columns"].items())[:PROFILE_COLUMNS]:
        count, nulls = int(c.get("count") or 0), int(c.get("nulls") or 0)
        item: dict[str, Any] = {
            "name": cname,
            "kind": c.get("kind"),
            "null_share": nulls / (count + nulls) if count + nulls else None,
        }
        if c.get("kind") == "numeric":
            item.update({"mean": c.get("mean"), "min": c.get("min"), "max": c.get("max")})
        else:
            item["top"] = [t[0] for t in (c.get("top") or [])[:3]]
        cols.append(item)
    return {"rows": profile.get("rows"), "columns": len(profile["columns"]), "column_summaries": cols}


def _training_data(session: Session, version_id: int) -> list[dict[str, Any]]:
    q = (
        select(ModelVersionInput, DatasetVersion)
        .outerjoin(DatasetVersion, DatasetVersion.id == ModelVersionInput.dataset_version_id)
        .where(ModelVersionInput.version_id == version_id)
        .order_by(ModelVersionInput.context, ModelVersionInput.dataset_name)
    )
    out = []
    for inp, dv in session.execute(q):
        out.append(
            {
                "name": inp.dataset_name,
                "hash": inp.root_hash,
                "context": inp.context,
                "dataset_version_id": inp.dataset_version_id,
                "file_count": dv.file_count if dv else None,
                "total_bytes": dv.total_bytes if dv else None,
                "profile": _profile_summary(dv.profile if dv else None),
            }
        )
    return out


def _history(session: Session, model: RegisteredModel, version: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.model_name == model.name,
            AuditEvent.resource_id == str(model.id),
            AuditEvent.action.in_(APPROVAL_ACTIONS),
        )
        .order_by(AuditEvent.id)
        .limit(5000)
    )
    return [
        {
            "at": r.ts,
            "action": r.action.removeprefix("model."),
            "actor": r.actor_name,
            "from": r.from_value,
            "to": r.to_value,
            "comment": r.comment,
            "transition_id": (r.details or {}).get("transition_id"),
        }
        for r in rows
        if (r.details or {}).get("version") == version
        or (r.action == "model.version_created" and r.to_value == str(version))
    ]


def _open_questions(card: dict[str, Any]) -> list[str]:
    q = []
    if not card["intended_use"].strip():
        q.append("Nobody has written what this model is for (intended use).")
    if not card["limitations"].strip():
        q.append("Nobody has written where this model should not be used (limitations).")
    if not card["training_data"]:
        q.append("No training dataset is recorded: the data it learned from cannot be traced.")
    elif not any(d["profile"] for d in card["training_data"]):
        q.append("The training data has no profile: its contents were not summarised.")
    if not card["metrics"]:
        q.append("No metrics were recorded on the source run.")
    if card["explanation"] is None:
        q.append("No explanation is recorded: what the model relies on is unknown.")
    if not any(
        h["action"] in ("transition_approved", "transition_approval_added") for h in card["approval_history"]
    ):
        q.append("No reviewer has approved a stage change of this version.")
    return q


def build_card(session: Session, actor: Principal, name: str, version: int) -> dict[str, Any]:
    model, mv = reg.get_version(session, actor, name, version)
    creator = session.scalar(select(User.name).where(User.id == mv.created_by)) if mv.created_by else None
    expl = records.for_version(session, mv.id)
    meta = mv.meta or {}
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "model": {"name": model.name, "description": model.description},
        "version": {
            "version": mv.version,
            "stage": mv.stage,
            "aliases": reg.aliases_of(session, [mv.id])[mv.id],
            "description": mv.description,
            "run_id": mv.run_id,
            "run_name": meta.get("run_name"),
            "framework": meta.get("framework"),
            "registered_by": creator,
            "registered_at": mv.created_at,
            "total_bytes": mv.total_bytes,
        },
        "intended_use": mv.intended_use or "",
        "limitations": mv.limitations or "",
        "training_data": _training_data(session, mv.id),
        "metrics": meta.get("metrics") or {},
        "params": meta.get("params") or {},
        "explanation": _explanation_summary(expl),
        "approval_history": _history(session, model, mv.version),
        "monitoring": monitoring_status(session, actor, model, mv),
        "generated_at": now_ms(),
    }
    card["open_questions"] = _open_questions(card)
    return card


def _explanation_summary(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    d = records.describe(row)
    return {
        k: d[k] for k in ("method", "dataset", "n_features", "top_features", "source_run_id", "local_sample")
    }
