"""API resources; each is an attribute of ``Client``."""

from __future__ import annotations

from ._paging import Paginator
from .abtests import ABTest, ABTestResults, ABTests
from .artifacts import ArtifactInfo, Artifacts
from .datasets import Datasets
from .experiments import Experiments
from .metrics import Metrics
from .models import Models
from .monitors import Alerts, Monitors
from .runs import Runs

__all__ = [
    "Alerts",
    "ABTest",
    "ABTestResults",
    "ABTests",
    "ArtifactInfo",
    "Artifacts",
    "Datasets",
    "Experiments",
    "Metrics",
    "Models",
    "Monitors",
    "Paginator",
    "Runs",
]
