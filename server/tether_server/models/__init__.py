"""ORM models. Importing this package registers the core tables on ``Base.metadata``.

The monitoring and A/B-test tables (``models.monitoring``, ``models.abtests``) belong to areas that
load on first use (see ``tether_server._lazy``): their services import them, and a server that never
monitors a model or runs a test never maps them. Code that needs every table (migrations, export and
import bundles, test cleanup) calls ``load_all()``.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from . import explain, registry  # noqa: F401  (registers the registry and explanation tables)
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

#: Model modules of the areas that load on first use; ``load_all`` imports them.
LAZY_MODULES = ("monitoring", "abtests")


def load_all() -> MetaData:
    """``Base.metadata`` with every table registered, the lazily loaded areas' included."""
    for name in LAZY_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return Base.metadata


__all__ = [
    "ALL_RESOURCES",
    "LAZY_MODULES",
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
    "load_all",
    "new_id",
    "now_ms",
]
