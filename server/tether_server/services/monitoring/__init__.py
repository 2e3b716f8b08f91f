"""Production monitoring services (take a Session, never commit, never import Flask).

- ``monitors``: create/get/list/update/delete monitors (model grants apply)
- ``references``: the reference in force (follows the live version), profile merge
- ``windows``: summary posts and the posting check every ingest path shares
- ``rows``: raw rows binned by the server; ``labels``: ground truth, prediction-id retention
- ``results``: drift, performance, histogram reads for the API and UI
- ``evaluate``: ``evaluate_due(session, now_ms)``, the evaluator pass; its steps, which
  ``workers.monitoring`` runs in short transactions, are in ``recompute`` (gather, compute, store
  a batch of windows) and ``rules`` (decay over the history, the alert rules)
- ``alerts``: the shared alert service (monitors and A/B tests)
"""

from . import alerts, evaluate, labels, monitors, references, results, rows, windows
from .alerts import acknowledge, list_alerts, open_or_update, record_clean, resolve
from .evaluate import evaluate_due

__all__ = [
    "acknowledge",
    "alerts",
    "evaluate",
    "evaluate_due",
    "labels",
    "list_alerts",
    "monitors",
    "open_or_update",
    "record_clean",
    "references",
    "resolve",
    "results",
    "rows",
    "windows",
]
