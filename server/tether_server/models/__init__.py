"""ORM models. Import from here so every table is registered on ``Base.metadata``."""

from __future__ import annotations

from . import registry  # noqa: F401  (registers the model registry tables)
from .artifacts import Artifact, Dataset, DatasetVersion, RunInput, Upload
from .audit import AuditEvent
from .auth import ALL_RESOURCES, LEVELS, RESOURCE_TYPES, ROLES, ApiToken, Group, GroupMember, Permission, User
from .base import Base, new_id, now_ms
from .tracking import (
    Experiment,
    ExperimentTag,
    IdempotencyRecord,
    LatestMetric,
    Metric,
    Param,
    Run,
    RunTag,
)

__all__ = [
    "ALL_RESOURCES",
    "Group",
    "GroupMember",
    "ApiToken",
    "Artifact",
    "AuditEvent",
    "Dataset",
    "DatasetVersion",
    "RunInput",
    "Upload",
    "Base",
    "Experiment",
    "ExperimentTag",
    "IdempotencyRecord",
    "LEVELS",
    "LatestMetric",
    "Metric",
    "Param",
    "Permission",
    "RESOURCE_TYPES",
    "ROLES",
    "Run",
    "RunTag",
    "User",
    "new_id",
    "now_ms",
]
