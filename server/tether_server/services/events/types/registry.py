"""Registry events: registered models, versions, reviewed transitions, stages, aliases,
explanations, model cards and promotion policies."""

from __future__ import annotations

from typing import Any

from ..base import Event


class ModelEvent(Event):
    """A change to a registered model (audit rows carry the model's id and name)."""

    resource_type = "model"
    model_id: int
    model: str

    @property
    def resource_id(self) -> str | int:
        return self.model_id

    @property
    def model_name(self) -> str | None:
        return self.model


class ModelCreated(ModelEvent):
    action = "model.created"

    def to_value(self) -> str | None:
        return self.model


class ModelUpdated(ModelEvent):
    action = "model.updated"
    description_changed: bool
    tags: list[str]

    def details(self) -> dict[str, Any]:
        return {"description": self.description_changed, "tags": sorted(self.tags)}


class ModelDeleted(ModelEvent):
    action = "model.deleted"

    def from_value(self) -> str | None:
        return self.model


class ModelVersionCreated(ModelEvent):
    action = "model.version_created"
    webhook = "model_version.created"
    version: int
    run_id: str
    artifact_path: str
    files: int

    def to_value(self) -> str | None:
        return str(self.version)

    def details(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "run_id": self.run_id,
            "artifact_path": self.artifact_path,
            "files": self.files,
        }

    def data(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id, "stage": "None"}


class ModelVersionUpdated(ModelEvent):
    action = "model.version_updated"
    version: int

    def details(self) -> dict[str, Any]:
        return {"version": self.version}


class ModelVersionDeleted(ModelEvent):
    action = "model.version_deleted"
    version: int
    run_id: str | None

    def from_value(self) -> str | None:
        return str(self.version)

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "run_id": self.run_id}


class TransitionEvent(ModelEvent):
    """Something happened to a reviewed transition (its id is ``transition_id``)."""

    transition_id: int
    version: int | None
    from_stage: str
    to_stage: str
    status: str
    requested_by: str

    def from_value(self) -> str | None:
        return self.from_stage

    def to_value(self) -> str | None:
        return self.to_stage

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "transition_id": self.transition_id}

    def data(self) -> dict[str, Any]:
        return {
            "transition_id": self.transition_id,
            "request_id": self.transition_id,  # the name before transition_id (kept for receivers)
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "status": self.status,
            "requested_by": self.requested_by,
        }


class TransitionRequested(TransitionEvent):
    action = "model.transition_requested"
    webhook = "transition.requested"
    required_approvals: int

    def details(self) -> dict[str, Any]:
        return {**super().details(), "required_approvals": self.required_approvals}


class TransitionApprovalAdded(TransitionEvent):
    action = "model.transition_approval_added"
    approvals: int
    required: int

    def details(self) -> dict[str, Any]:
        return {**super().details(), "approvals": self.approvals, "required": self.required}


class TransitionApproved(TransitionEvent):
    action = "model.transition_approved"
    webhook = "transition.approved"


class TransitionRejected(TransitionEvent):
    action = "model.transition_rejected"
    webhook = "transition.rejected"


class TransitionCancelled(TransitionEvent):
    action = "model.transition_cancelled"


class StageChanged(ModelEvent):
    action = "model.stage_changed"
    webhook = "stage.changed"
    version: int
    from_stage: str
    to_stage: str
    transition_id: int | None = None  # the reviewed transition that moved it, if any

    def from_value(self) -> str | None:
        return self.from_stage

    def to_value(self) -> str | None:
        return self.to_stage

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "transition_id": self.transition_id}

    def data(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "transition_id": self.transition_id,
            "request_id": self.transition_id,  # the name before transition_id (kept for receivers)
        }


class AliasChanged(ModelEvent):
    """An alias was set (``version``) or deleted (``version`` None)."""

    action = "model.alias_changed"
    webhook = "alias.changed"
    alias: str
    version: int | None
    previous_version: int | None

    def from_value(self) -> str | None:
        return None if self.previous_version is None else str(self.previous_version)

    def to_value(self) -> str | None:
        return None if self.version is None else str(self.version)

    def details(self) -> dict[str, Any]:
        return (
            {"alias": self.alias} if self.version is None else {"alias": self.alias, "version": self.version}
        )

    def data(self) -> dict[str, Any]:
        return {"alias": self.alias, "version": self.version, "previous_version": self.previous_version}


class ExplanationSet(ModelEvent):
    """A version's global explanation was set or replaced (``replaced``), or its local sample added."""

    action = "model.explanation_set"
    version: int
    stage: str
    method: str
    n_features: int
    replaced: bool
    part: str = "global"  # "global" | "local_sample"

    def to_value(self) -> str | None:
        return self.method

    def details(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stage": self.stage,
            "method": self.method,
            "n_features": self.n_features,
            "replaced": self.replaced,
            "part": self.part,
        }


class ModelCardUpdated(ModelEvent):
    """The person-written part of a version's model card (intended use, limitations) changed."""

    action = "model.card_updated"
    version: int
    fields: list[str]

    def details(self) -> dict[str, Any]:
        return {"version": self.version, "fields": sorted(self.fields)}


class PolicyChanged(Event):
    """A promotion policy changed: a model's (``model_id`` set) or the global one."""

    action = "model.policy_changed"
    model_id: int | None
    model: str | None
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def resource_type(self) -> str:  # type: ignore[override]
        return "model" if self.model_id is not None else "registry"

    @property
    def resource_id(self) -> str | int:
        return self.model_id if self.model_id is not None else "global"

    @property
    def model_name(self) -> str | None:
        return self.model

    def details(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after}
