"""Performance metrics from ``tether.performance/1`` window summaries, with one-sided confidence
bounds at the **favourable** end (the upper bound of a higher-is-better metric, the lower bound of
an error): the decay rule asks whether even that end is worse than the baseline.

Bounds (``confidence`` = 0.95 means z = Φ⁻¹(0.95) ≈ 1.645, one-sided):

- accuracy, precision, recall: Wilson score bound (Wilson 1927; Brown, Cai & DasGupta 2001) on
  successes/trials: (tp+tn)/N, tp/(tp+fp), tp/(tp+fn).
- F1 = 2TP/(2TP+FP+FN) = 2J/(1+J) with J = TP/(TP+FP+FN) (the Jaccard index). Given the
  TP+FP+FN rows that are positive in label or prediction, each is a TP independently with
  probability J, so J has a Wilson bound; F1 is increasing in J, so the bound maps through exactly.
- AUC from the score histograms: the Mann–Whitney estimate with ties within a bin counted ½,
  AUC = sum_i pos_i·(neg_<i + neg_i/2)/(P·N), and the Hanley & McNeil (1982) standard error
  SE² = [A(1−A) + (P−1)(Q1−A²) + (N−1)(Q2−A²)]/(P·N), Q1 = A/(2−A), Q2 = 2A²/(1+A); bound
  A + z·SE clipped to [0, 1].
- MAE = mean |e|: Student-t bound mean − t_(c, n−1)·s/√n with s² = (Σe² − (Σ|e|)²/n)/(n−1).
- RMSE = √MSE: t bound on MSE = mean e² with s² = (Σe⁴ − (Σe²)²/n)/(n−1), then the square root
  (monotone), floored at 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
    from scipy import special  # normal and Student-t quantiles; scipy.stats loads seconds slower

    Floats = NDArray[np.float64]
else:
    np = lazy_module("numpy")
    special = lazy_module("scipy.special")


HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "auc": True,
    "rmse": False,
    "mae": False,
}


def wilson_bound(successes: ArrayLike, n: ArrayLike, confidence: float = 0.95, upper: bool = True) -> Floats:
    """One-sided Wilson score bound for a binomial proportion:
    (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), z = Φ⁻¹(confidence); NaN when n = 0."""
    k, nn = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = special.ndtri(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / nn
        centre = p + z * z / (2 * nn)
        half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn))
        out = (centre + half if upper else centre - half) / (1 + z * z / nn)
    return np.where(nn > 0, out, np.nan)


def f1_from_jaccard(j: ArrayLike) -> Floats:
    jj = np.asarray(j, dtype=np.float64)
    return 2 * jj / (1 + jj)


def auc_binned(pos_hist: ArrayLike, neg_hist: ArrayLike) -> Floats:
    """AUC = P(score_pos > score_neg) + ½·P(tie), scores known to their histogram bin (a tie = the
    same bin): the Mann–Whitney U / (P·N) on the bin indices. NaN without positives or negatives."""
    pos, neg = np.asarray(pos_hist, dtype=np.float64), np.asarray(neg_hist, dtype=np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    p, q = pos.sum(axis=-1), neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(pos * (below + neg / 2), axis=-1) / (p * q)


def hanley_mcneil_se(auc: ArrayLike, n_pos: ArrayLike, n_neg: ArrayLike) -> Floats:
    """Hanley & McNeil (1982), Radiology 143:29–36, eq. 2 (exponential approximation for Q1, Q2)."""
    a = np.asarray(auc, dtype=np.float64)
    p, q = np.asarray(n_pos, dtype=np.float64), np.asarray(n_neg, dtype=np.float64)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (a * (1 - a) + (p - 1) * (q1 - a * a) + (q - 1) * (q2 - a * a)) / (p * q)
    return np.sqrt(np.maximum(var, 0.0))


def mean_bound(
    n: ArrayLike, total: ArrayLike, total_sq: ArrayLike, confidence: float = 0.95, upper: bool = False
) -> tuple[Floats, Floats]:
    """``(mean, one-sided Student-t bound)`` of a mean from n, Σx, Σx²:
    mean ± t_(confidence, n−1)·s/√n, s² = (Σx² − (Σx)²/n)/(n−1). The bound is NaN when n < 2."""
    nn, s1, s2 = (np.asarray(v, dtype=np.float64) for v in (n, total, total_sq))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / nn
        var = np.maximum(s2 - s1 * s1 / nn, 0.0) / (nn - 1)
        half = special.stdtrit(np.maximum(nn - 1, 1), confidence) * np.sqrt(var / nn)
    bound = np.where(nn >= 2, mean + half if upper else mean - half, np.nan)
    return np.where(nn > 0, mean, np.nan), bound


@dataclass(frozen=True)
class MetricEstimate:
    metric: str
    value: float
    bound: float  # the favourable end of the one-sided interval
    n: int
    higher_is_better: bool


def _binary(s: Mapping[str, Any], metric: str, c: float) -> tuple[float, float, int]:
    tp, fp, tn, fn = (s[k] for k in ("tp", "fp", "tn", "fn"))
    if metric == "auc":
        p, q = tp + fn, fp + tn
        a = float(auc_binned(s["pos_hist"], s["neg_hist"]))
        se = float(hanley_mcneil_se(a, p, q))
        return a, min(1.0, a + special.ndtri(c) * se) if p and q else math.nan, p + q
    if metric == "f1":
        k, n = tp, tp + fp + fn
        value = 2 * tp / (2 * tp + fp + fn) if n else math.nan
        return value, float(f1_from_jaccard(wilson_bound(k, n, c))), n
    k, n = {"accuracy": (tp + tn, tp + fp + tn + fn), "precision": (tp, tp + fp), "recall": (tp, tp + fn)}[
        metric
    ]
    return (k / n if n else math.nan), float(wilson_bound(k, n, c)), n


def _regression(s: Mapping[str, Any], metric: str, c: float) -> tuple[float, float, int]:
    n = s["n"]
    if metric == "mae":
        mean, lo = mean_bound(n, s["sum_abs_err"], s["sum_sq_err"], c)
        return float(mean), float(np.maximum(lo, 0.0)), n
    mse, lo = mean_bound(n, s["sum_sq_err"], s["sum_err4"], c)
    return float(np.sqrt(mse)), float(np.sqrt(np.maximum(lo, 0.0))), n


def metric_estimate(summary: Mapping[str, Any], metric: str, confidence: float = 0.95) -> MetricEstimate:
    """A window's metric and the favourable end of its one-sided ``confidence`` bound (see the module
    docstring). ``summary`` is a validated ``tether.performance/1`` dict."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"metric: expected one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    kind = summary["kind"]
    if kind == "binary" and metric in ("accuracy", "precision", "recall", "f1", "auc"):
        value, bound, n = _binary(summary, metric, confidence)
    elif kind == "multiclass" and metric == "accuracy":
        n = summary["n"]
        value, bound = (
            (summary["correct"] / n if n else math.nan),
            float(wilson_bound(summary["correct"], n, confidence)),
        )
    elif kind == "regression" and metric in ("rmse", "mae"):
        value, bound, n = _regression(summary, metric, confidence)
    else:
        raise ValueError(f"metric: {metric!r} cannot be computed from a {kind} summary")
    return MetricEstimate(metric, float(value), float(bound), int(n), HIGHER_IS_BETTER[metric])
