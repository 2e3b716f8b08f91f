"""API resources; each is an attribute of ``Client``."""

from __future__ import annotations

from ._paging import Paginator
from .experiments import Experiments
from .metrics import Metrics
from .runs import Runs

__all__ = ["Experiments", "Metrics", "Paginator", "Runs"]
