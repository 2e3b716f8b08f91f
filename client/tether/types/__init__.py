"""Small dataclasses for what the API returns, one module per resource: ``tracking``, ``registry``,
``monitoring``, ``explanations`` and ``page``; every public name is re-exported here. ``from_dict``
ignores keys it does not know, so a newer server can add fields without breaking older clients."""

from .explanations import Explanation
from .monitoring import Alert, Monitor, MonitorReference
from .page import Page
from .registry import (
    Approval,
    DatasetRef,
    Deployment,
    ModelAlias,
    ModelFile,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
    TransitionRequest,
)
from .tracking import BatchResult, Experiment, MetricHistory, MetricPoint, Run

__all__ = [
    "Experiment",
    "Run",
    "MetricPoint",
    "MetricHistory",
    "BatchResult",
    "Page",
    "RegisteredModel",
    "ModelVersion",
    "ModelFile",
    "DatasetRef",
    "Deployment",
    "ModelAlias",
    "Approval",
    "TransitionRequest",
    "RegistryPolicy",
    "Monitor",
    "MonitorReference",
    "Alert",
    "Explanation",
]
