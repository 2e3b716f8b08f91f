"""A/B tests of champion vs challenger (issue 12): services take a Session, never commit, never
import Flask.

- ``catalog``: create/get/list tests, start/stop (``update_status``), the assigner
- ``serving``: the hot paths from a per-process cache checked in one statement: ``/assign`` and
  window posts
- ``outcomes``: sufficient-statistics windows (idempotent per arm/metric/window/source) and raw
  per-unit outcomes (arm recomputed by the server), per-arm statistics
- ``decide``: results (every number with a plain sentence), ``evaluate`` (acts on the first
  decision: SRM → invalid + alert; loser → alert + ``abtest.stopped``; winner → one reviewed
  transition request). The periodic pass is ``workers.abtests``
- ``explain``: the sentences
"""

from . import catalog, decide, explain, outcomes, serving
from .catalog import create_test, describe, get_test, list_tests, update_status
from .decide import compute, evaluate, results
from .outcomes import post_outcomes

__all__ = [
    "catalog",
    "compute",
    "create_test",
    "decide",
    "describe",
    "evaluate",
    "explain",
    "get_test",
    "list_tests",
    "outcomes",
    "post_outcomes",
    "results",
    "serving",
    "update_status",
]
