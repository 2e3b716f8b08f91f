"""Registry: registered models, versions, stages and aliases (``catalog``), reviewed stage
transitions (``transitions``), deployment reads (``deploy``) and lineage (``lineage``).

Every change publishes a typed event (``services.events.types``: ``ModelVersionCreated``,
``TransitionRequested``, ``StageChanged``, ``AliasChanged``, ...) through ``events.publish``, which
writes the audit row and the webhook outbox. ``transitions`` builds on ``catalog`` (it moves stages
through ``apply_stage``); ``catalog`` never imports ``transitions``.
"""

from . import catalog, deploy, lineage, transitions
from .catalog import (
    apply_stage,
    create_model,
    create_version,
    delete_alias,
    delete_model,
    delete_version,
    get_model,
    get_version,
    list_models,
    list_versions,
    set_alias,
    stage_files,
    update_model,
    update_version,
)
from .deploy import resolve
from .lineage import dataset_version_graph, model_version_graph
from .transitions import (
    approve,
    can_decide,
    cancel,
    count_decidable,
    decision_refusal,
    get_policy,
    get_request,
    list_requests,
    reject,
    request_transition,
    set_policy,
)

__all__ = [
    "apply_stage",
    "approve",
    "can_decide",
    "cancel",
    "catalog",
    "count_decidable",
    "create_model",
    "create_version",
    "dataset_version_graph",
    "decision_refusal",
    "delete_alias",
    "delete_model",
    "delete_version",
    "deploy",
    "get_model",
    "get_policy",
    "get_request",
    "get_version",
    "lineage",
    "list_models",
    "list_requests",
    "list_versions",
    "model_version_graph",
    "reject",
    "request_transition",
    "resolve",
    "set_alias",
    "set_policy",
    "stage_files",
    "transitions",
    "update_model",
    "update_version",
]
