"""Tracking: experiments, runs, params, metrics and tags, search, idempotent batches.

- experiments: ``create_experiment``, ``get_experiment``, ``list_experiments``, ``update_experiment``,
  ``delete_experiment``
- runs: ``create_run``, ``get_run``, ``update_run``, ``delete_run``, ``restore_run``, ``run_details``,
  ``hard_delete_run``
- logging: ``log_batch`` (params, metrics, tags; atomic), ``log_points`` (the single-metric route);
  every metric point is written by the database's ``MetricWriter`` (``writer``), which holds the
  "run accepts data" rule and the latest-value upsert
- reading metrics: ``history`` (paged or downsampled); search: ``search_runs``
- idempotent batches: ``idempotency.lookup`` / ``idempotency.remember``
"""

from . import experiments, idempotency, metrics, runs, search, writer
from .experiments import (
    create_experiment,
    delete_experiment,
    get_experiment,
    list_experiments,
    update_experiment,
)
from .metrics import history
from .runs import (
    create_run,
    delete_run,
    get_run,
    hard_delete_run,
    log_batch,
    log_points,
    restore_run,
    run_details,
    update_run,
    writable_run,
)
from .search import search_runs
from .writer import MetricWriter

__all__ = [
    "MetricWriter",
    "create_experiment",
    "create_run",
    "delete_experiment",
    "delete_run",
    "experiments",
    "get_experiment",
    "get_run",
    "hard_delete_run",
    "history",
    "idempotency",
    "list_experiments",
    "log_batch",
    "log_points",
    "metrics",
    "restore_run",
    "run_details",
    "runs",
    "search",
    "search_runs",
    "update_experiment",
    "update_run",
    "writable_run",
    "writer",
]
