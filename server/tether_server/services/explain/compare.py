"""Comparing two global explanations (a candidate version against the current Production version).

Pure function over two ``{feature: importance}`` mappings; no database. Features are ranked by
|importance|, largest first (ties broken by name). What a reviewer sees:

* ``candidate_top`` / ``production_top``: the top ``k`` (default 10) of each, with ranks;
* ``rank_changes``: every feature in either top ``k`` with its rank in each explanation (ranks are
  over all features of that explanation; ``null`` when the feature is absent) and
  ``change = production_rank - candidate_rank`` (positive: the candidate relies on it more);
* ``entered_top`` / ``left_top``: features that appear in / disappear from the top ``k``;
* ``top_overlap``: |top_k(candidate) ∩ top_k(production)| / max(|top_k(candidate)|, |top_k(production)|)
  (1.0 = the same features lead, in any order);
* ``spearman`` and ``kendall``: rank correlations of the importances of the features present in
  both explanations (Spearman's rho with average ranks for ties; Kendall's tau-b, as
  ``scipy.stats.spearmanr`` / ``kendalltau`` define them); ``null`` with fewer than 2 common
  features or when one side is constant;
* ``large_change``: ``top_overlap < 0.5``, the signal to look closely.

Importance values are compared by rank only, so two methods (say SHAP vs permutation) can still be
compared; ``same_method`` says whether they were computed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


TOP_K = 10
LARGE_CHANGE_OVERLAP = 0.5


def _ranks(importances: Mapping[str, float]) -> dict[str, int]:
    order = sorted(importances.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return {f: i + 1 for i, (f, _v) in enumerate(order)}


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (``scipy.stats.rankdata(method='average')``)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, len(x)])
    avg = first + (counts + 1) / 2.0
    out = np.empty(len(x))
    out[order] = avg[group]
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of the average ranks; None if undefined (n < 2 or a constant side)."""
    if len(a) < 2:
        return None
    ra, rb = _average_ranks(a) - (len(a) + 1) / 2.0, _average_ranks(b) - (len(b) + 1) / 2.0
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb / denom) if denom > 0 else None


def kendall(a: np.ndarray, b: np.ndarray) -> float | None:
    """Kendall's tau-b (``scipy.stats.kendalltau``, O(n log n)); None if undefined."""
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    from scipy import stats as sps  # imported on first use: the server starts without scipy loaded

    tau = sps.kendalltau(a, b).statistic
    return None if tau is None or not math.isfinite(tau) else float(tau)


def compare(
    candidate: Mapping[str, float], production: Mapping[str, float], k: int = TOP_K
) -> dict[str, Any]:
    rc, rp = _ranks(candidate), _ranks(production)
    top_c = [f for f, r in sorted(rc.items(), key=lambda kv: kv[1]) if r <= k]
    top_p = [f for f, r in sorted(rp.items(), key=lambda kv: kv[1]) if r <= k]
    shared_top = set(top_c) & set(top_p)
    overlap = len(shared_top) / max(len(top_c), len(top_p)) if (top_c or top_p) else 1.0
    union = top_c + [f for f in top_p if f not in set(top_c)]
    changes = []
    for f in union:
        c, p = rc.get(f), rp.get(f)
        changes.append(
            {
                "feature": f,
                "candidate_rank": c,
                "production_rank": p,
                "change": (p - c) if (c is not None and p is not None) else None,
            }
        )
    common = sorted(set(candidate) & set(production))
    a = np.array([abs(candidate[f]) for f in common], dtype=float)
    b = np.array([abs(production[f]) for f in common], dtype=float)
    return {
        "k": k,
        "candidate_top": [{"rank": rc[f], "feature": f, "importance": candidate[f]} for f in top_c],
        "production_top": [{"rank": rp[f], "feature": f, "importance": production[f]} for f in top_p],
        "rank_changes": changes,
        "entered_top": [f for f in top_c if f not in set(top_p)],
        "left_top": [f for f in top_p if f not in set(top_c)],
        "top_overlap": overlap,
        "common_features": len(common),
        "only_candidate": len(set(candidate) - set(production)),
        "only_production": len(set(production) - set(candidate)),
        "spearman": spearman(a, b),
        "kendall": kendall(a, b),
        "large_change": overlap < LARGE_CHANGE_OVERLAP,
    }
