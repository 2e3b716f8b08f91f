"""Global explanations of runs and model versions: get, set, replace (the rules), and the
comparison a reviewer sees for a transition request.

Rules:

* A run's explanation can be set and replaced by anyone who may edit the run. Registering a version
  copies it (``records.copy_from_run``), so every version from that run carries it.
* A version's explanation is metadata, not a model file: it can be set or replaced while the version
  is not in Production; a Production version that has none may get one once; replacing a Production
  version's explanation is refused (409): promote a new version instead. Every change to a version's
  explanation is published (``ExplanationSet``: audit row).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import FailedPrecondition, InvalidArgument, NotFound
from ...models import Dataset, DatasetVersion
from ...models.registry import ModelVersion, RegisteredModel, TransitionRequest
from ..artifacts.datasets import version_visible
from ..events import publish
from ..events import types as ev
from ..registry import catalog as reg
from ..tracking import runs
from . import compare as cmp
from . import records
from .validate import check_explanation


def _resolve_dataset(session: Session, actor: Principal, ref: dict[str, Any] | None) -> dict[str, Any] | None:
    """Complete a dataset reference: an id gets its name and hash (400 if the caller can't see it);
    a name + hash that Tether knows gets its id (an unknown one is kept as given)."""
    if not ref:
        return ref
    q = select(DatasetVersion.id, Dataset.name, DatasetVersion.root_hash).join(
        Dataset, Dataset.id == DatasetVersion.dataset_id
    )
    if ref.get("dataset_version_id") is None:
        if not ref.get("name"):
            return ref
        row = session.execute(
            q.where(
                Dataset.name == ref["name"], DatasetVersion.root_hash == ref["hash"], version_visible(actor)
            )
        ).first()
        return ref if row is None else {"dataset_version_id": row.id, "name": row.name, "hash": row.root_hash}
    row = session.execute(
        q.where(DatasetVersion.id == ref["dataset_version_id"], version_visible(actor))
    ).first()
    if row is None:
        raise InvalidArgument(
            f"dataset: no dataset version {ref['dataset_version_id']} visible to you",
            {"field": "dataset"},
        )
    if ref.get("hash") and ref["hash"] != row.root_hash:
        raise InvalidArgument("dataset: hash does not match the dataset version's hash", {"field": "dataset"})
    return {"dataset_version_id": row.id, "name": row.name, "hash": row.root_hash}


# ---------------------------------------------------------------- runs


def get_run_explanation(session: Session, actor: Principal, run_id: str) -> dict[str, Any]:
    run = runs.get_run(session, actor, run_id, "READ")
    row = records.for_run(session, run.id)
    if row is None:
        raise NotFound(f"Run {run_id!r} has no explanation")
    return records.describe(row)


def set_run_explanation(session: Session, actor: Principal, run_id: str, body: Any) -> dict[str, Any]:
    run = runs.get_run(session, actor, run_id, "EDIT")
    if run.lifecycle != "active":
        raise FailedPrecondition(f"Run {run_id!r} is deleted; restore it first")
    values = check_explanation(body)
    values["dataset"] = _resolve_dataset(session, actor, values["dataset"])
    values["created_by"] = actor.id
    return records.describe(records.write(session, records.for_run(session, run.id), values, run_id=run.id))


# ---------------------------------------------------------------- versions


def get_version_explanation(session: Session, actor: Principal, name: str, version: int) -> dict[str, Any]:
    _model, mv = reg.get_version(session, actor, name, version)
    row = records.for_version(session, mv.id)
    if row is None:
        raise NotFound(
            f"Version {version} of {name!r} has no explanation", {"model": name, "version": version}
        )
    return {**records.describe(row), "model": name, "version": version}


def writable_version_explanation(
    session: Session, actor: Principal, name: str, version: int, what: str
) -> tuple[RegisteredModel, ModelVersion, Any]:
    """The version (EDIT needed, model locked) and its current row, if changing ``what`` is allowed."""
    model, mv = reg.get_version(session, actor, name, version, "EDIT")
    reg.lock_model(session, model.id)
    session.refresh(mv)  # the stage as it is under the lock
    row = records.for_version(session, mv.id)
    if mv.stage == "Production" and row is not None and (what == "global" or row.local_key):
        raise FailedPrecondition(
            f"Version {version} of {name!r} is in Production and already has its {what.replace('_', ' ')} "
            "explanation; it cannot be replaced (register and promote a new version instead)",
            {"model": name, "version": version, "stage": mv.stage},
        )
    return model, mv, row


def set_version_explanation(
    session: Session, actor: Principal, name: str, version: int, body: Any, request_id: str = ""
) -> dict[str, Any]:
    values = check_explanation(body)
    model, mv, row = writable_version_explanation(session, actor, name, version, "global")
    values["dataset"] = _resolve_dataset(session, actor, values["dataset"])
    values["created_by"] = actor.id
    replaced = row is not None
    row = records.write(session, row, values, version_id=mv.id)
    mv.updated_at = row.updated_at  # the deployment response (and its ETag) links to it
    publish(
        session,
        ev.ExplanationSet(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            version=version,
            stage=mv.stage,
            method=row.method,
            n_features=row.n_features,
            replaced=replaced,
        ),
    )
    return {**records.describe(row), "model": name, "version": version}


# ---------------------------------------------------------------- review


def comparison_for_request(session: Session, req: TransitionRequest) -> dict[str, Any]:
    """Candidate (the request's version) against the model's current Production version."""
    cand = records.for_version(session, req.version_id)
    prod_mv = session.scalar(
        select(ModelVersion).where(
            ModelVersion.model_id == req.model_id,
            ModelVersion.stage == "Production",
            ModelVersion.id != req.version_id,
        )
    )
    prod = records.for_version(session, prod_mv.id) if prod_mv is not None else None
    out: dict[str, Any] = {
        "candidate": _side(cand, req.version_id, session),
        "production": _side(prod, prod_mv.id, session) if prod_mv is not None else None,
    }
    if cand is None or prod is None:
        missing = "the candidate" if cand is None else "the Production version"
        out["available"] = False
        out["reason"] = (
            "There is no Production version to compare with"
            if prod_mv is None
            else f"No explanation was recorded for {missing}"
        )
        return out
    out["available"] = True
    out["same_method"] = cand.method == prod.method
    out.update(cmp.compare(cand.importances, prod.importances))
    return out


def _side(row: Any, version_id: int, session: Session) -> dict[str, Any]:
    number = session.scalar(select(ModelVersion.version).where(ModelVersion.id == version_id))
    return {
        "version": number,
        "method": row.method if row is not None else None,
        "n_features": row.n_features if row is not None else 0,
        "dataset": row.dataset if row is not None else None,
    }
