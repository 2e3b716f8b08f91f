"""What a window's merged summary says: per-column drift, the dataset verdict, the metric.

Pure functions over dicts (the statistics live in ``tether_server.stats``); the window services
store their output in ``monitor_window_results``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from tether.monitoring import merge, merge_performance

from ...stats import ColumnDrift, DatasetDrift, DriftThresholds, compare_windows, metric_estimate

STATUS_RANK = {"ok": 0, "warn": 1, "alert": 2}


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__, default="ok")


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def merge_all(summaries: list[Mapping[str, Any]], merge_fn: Any = merge) -> dict[str, Any] | None:
    out: dict[str, Any] | None = None
    for s in summaries:
        out = dict(s) if out is None else merge_fn(out, s)
    return out


def merge_performances(summaries: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    return merge_all(summaries, merge_performance)


def _null_rate(col: Mapping[str, Any]) -> float | None:
    n = col.get("n", 0)
    return (col.get("nulls", 0) + col.get("nan", 0)) / n if n else None


def drift_of(
    profile: Mapping[str, Any],
    summary: Mapping[str, Any],
    *,
    prediction_column: str | None,
    importances: Mapping[str, float] | None,
    thresholds: DriftThresholds,
) -> dict[str, Any]:
    """``{"columns": {name: {...}}, "dataset": {...}, "status"}`` for one merged window summary.
    Reference columns the summary does not carry at all are reported as missing (alert)."""
    return drifts_of(
        [(profile, summary)],
        prediction_column=prediction_column,
        importances=importances,
        thresholds=thresholds,
    )[0]


def drifts_of(
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
    *,
    prediction_column: str | None,
    importances: Mapping[str, float] | None,
    thresholds: DriftThresholds,
) -> list[dict[str, Any]]:
    """``drift_of`` of many ``(profile, summary)`` pairs (windows of one monitor): the statistics of
    every column of every window are computed in one batch (``stats.compare_windows``)."""
    compared = compare_windows(
        pairs, prediction_column=prediction_column, importances=importances, thresholds=thresholds
    )
    return [
        _drift_dict(profile, summary, cols, verdict)
        for (profile, summary), (cols, verdict) in zip(pairs, compared, strict=True)
    ]


def _drift_dict(
    profile: Mapping[str, Any],
    summary: Mapping[str, Any],
    cols: Mapping[str, ColumnDrift],
    verdict: DatasetDrift,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in cols.items():
        out[name] = {
            "kind": d.kind,
            "n": d.n,
            "psi": _finite(d.psi),
            "js": _finite(d.js),
            "ks": _finite(d.ks),
            "wasserstein": _finite(d.wasserstein),
            "noise_floor": _finite(d.noise_floor),
            "null_rate": _null_rate(summary["columns"][name]),
            "null_share_change": _finite(d.null_share_change),
            "unseen_share": _finite(d.unseen_share) if d.unseen_share is not None else None,
            "other_share_change": d.other_share_change,
            "out_of_range_share": d.out_of_range_share,
            "invalid_share": d.invalid_share,
            "insufficient_data": d.insufficient_data,
            "missing": d.missing,
            "drifted": d.drifted,
            "status": d.status,
            "reasons": [{k: _finite(v) for k, v in r.items()} for r in d.reasons],
        }
    for name in profile["columns"]:
        if name not in out and summary.get("n", 0) > 0:
            out[name] = {
                "kind": profile["columns"][name].get("kind"),
                "n": 0,
                "psi": None,
                "js": None,
                "ks": None,
                "wasserstein": None,
                "noise_floor": None,
                "null_rate": None,
                "missing": True,
                "drifted": False,
                "status": "alert",
                "insufficient_data": True,
                "reasons": [{"rule": "missing_column", "status": "alert", "value": 1.0, "threshold": 1.0}],
            }
    dataset: dict[str, Any] = {
        "status": "alert" if verdict.drifted else "ok",
        "drifted_share": verdict.share,
        "drifted_columns": verdict.drifted_columns,
        "prediction_drifted": verdict.prediction_drifted,
        "unexpected_columns": dict(summary.get("unexpected_columns", {})),
    }
    if verdict.importance_share is not None:
        dataset["weighted_share"] = verdict.importance_share
        dataset["weighted_drifted"] = verdict.importance_drifted
        if verdict.importance_drifted:
            dataset["status"] = "alert"
    status = worst([dataset["status"], *(c["status"] for c in out.values())])
    return {"columns": out, "dataset": dataset, "status": status}


CELL_KEYS = ("status", "psi", "n")


def cells_of(drift: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The compact form of a window's drift that the monitor page's heatmap and PSI trend read:
    per column ``status``, ``psi`` and ``n`` (the same values as the full drift's), the dataset
    verdict's ``status`` and ``drifted_share``, and the window's ``status``. The other statistics
    (JS, KS, Wasserstein, reasons) are served per cell by the histogram route."""
    if drift is None:
        return None
    ds = drift.get("dataset") or {}
    return {
        "columns": {name: {k: c.get(k) for k in CELL_KEYS} for name, c in drift["columns"].items()},
        "dataset": {"status": ds.get("status"), "drifted_share": ds.get("drifted_share")},
        "status": drift.get("status", "ok"),
    }


def metric_of(perf: Mapping[str, Any] | None, metric: str | None, confidence: float) -> dict[str, Any] | None:
    """``{"value", "bound", "n"}`` of the monitor's metric, or None without labels/metric."""
    if perf is None or metric is None:
        return None
    try:
        est = metric_estimate(perf, metric, confidence)
    except ValueError as e:
        return {"value": None, "bound": None, "n": 0, "error": str(e)}
    return {"value": _finite(est.value), "bound": _finite(est.bound), "n": est.n}
