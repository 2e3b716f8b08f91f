"""Pure statistics (numpy/scipy only): no database, no Flask, counts in and numbers out.

- ``drift``: PSI (ε-smoothed), its no-drift noise floor, JS distance, binned KS, L∞, binned
  Wasserstein-1, all vectorised over windows.
- ``columns``: a window column summary against its reference profile column, the status rules
  (``DriftThresholds``) and the dataset verdicts (share of drifted columns, importance-weighted).
- ``performance``: metrics from performance summaries with one-sided bounds (Wilson, Jaccard-mapped
  Wilson for F1, Hanley–McNeil for AUC, Student t for MAE/RMSE).
- ``decay``: the decay alert (bound worse than baseline ± tolerance for 2 windows) and the z-score
  warning, per window of a history.
- ``sequential``: the asymptotic always-valid confidence sequence for A/B tests, decisions and
  guardrails.
- ``srm``: the sample-ratio-mismatch check (plain chi-square and its always-valid version).
"""

from __future__ import annotations

from .columns import (
    ColumnDrift,
    DatasetDrift,
    DriftThresholds,
    column_status,
    compare_column,
    compare_columns,
    compare_window,
    compare_windows,
    dataset_drift,
    importance_drift_share,
    psi_levels,
)
from .decay import DecayThresholds, decay_alerts, evaluate_history, tolerance, zscore_warnings
from .drift import js_distance, ks_binned, linf_distance, psi, psi_noise_floor, wasserstein_binned
from .performance import (
    MetricEstimate,
    auc_binned,
    hanley_mcneil_se,
    mean_bound,
    metric_estimate,
    wilson_bound,
)

__all__ = [
    "ColumnDrift",
    "DatasetDrift",
    "DecayThresholds",
    "DriftThresholds",
    "MetricEstimate",
    "auc_binned",
    "column_status",
    "compare_column",
    "compare_columns",
    "compare_window",
    "compare_windows",
    "dataset_drift",
    "decay_alerts",
    "evaluate_history",
    "hanley_mcneil_se",
    "importance_drift_share",
    "js_distance",
    "ks_binned",
    "linf_distance",
    "mean_bound",
    "metric_estimate",
    "psi",
    "psi_levels",
    "psi_noise_floor",
    "tolerance",
    "wasserstein_binned",
    "wilson_bound",
    "zscore_warnings",
]
