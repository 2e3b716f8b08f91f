"""Explain: what a model relies on. Global explanations (importance per feature, with its method,
optionally per class, and the dataset it was computed on) for runs and model versions, the optional
sample of local explanations (Parquet), the candidate-vs-Production comparison shown at review time,
and the model card.

- ``validate``: the body rules (finite numbers, no duplicate features, at most 10,000 features);
  ``parse_json`` keeps duplicate JSON keys visible
- ``records``: the rows, with no registry rules; ``copy_from_run`` (called by the registry when a
  version is registered) and ``importances_for_version`` (called by the monitoring evaluator for
  the importance-weighted drift rule)
- ``compare``: the pure comparison of two rankings (top-k, rank changes, overlap, Spearman, Kendall)
- ``explanations``: get/set for runs and versions (the Production rule), the review comparison
- ``local``: the local-explanation sample (Parquet layout, validation, storage)
- ``card``: the model card (JSON and Markdown)

``explanations``, ``local`` and ``card`` build on the registry, which imports ``records``; import
them as submodules (``from tether_server.services.explain import card``). Only the registry-free
parts are imported here.
"""

from . import compare, records, validate
from .records import importances_for_version

__all__ = ["compare", "importances_for_version", "records", "validate"]
