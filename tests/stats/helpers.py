"""Reference profiles built with numpy, with the same rules as ``tether._datasets`` (deciles
``sorted[int(q·n/10)]``, bisect_right bins, NaN counted as null, top 50 + other), so simulations can
use references of 100,000 rows without the pure-Python profiler's cost. A test in
``test_drift_simulations`` checks them against the real profiler."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def numeric_profile(x: np.ndarray) -> dict[str, Any]:
    values = np.sort(x[~np.isnan(x)])
    m = values.size
    edges = [float(values[min(m - 1, int(q * m / 10))]) for q in range(1, 10)]
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=10)
    mean = float(values.mean())
    return {
        "kind": "numeric",
        "type": "float",
        "count": int(m),
        "nulls": int(x.size - m),
        "mean": mean,
        "m2": float(((values - mean) ** 2).sum()),
        "min": float(values[0]),
        "max": float(values[-1]),
        "bin_edges": edges,
        "bin_counts": [int(c) for c in counts],
    }


def categorical_profile(values: np.ndarray, top_k: int = 50) -> dict[str, Any]:
    counts = Counter(values.tolist())
    top = counts.most_common(top_k)
    return {
        "kind": "categorical",
        "type": "string",
        "count": int(values.size),
        "nulls": 0,
        "top": [[str(v), int(c)] for v, c in top],
        "other": int(values.size - sum(c for _, c in top)),
    }


def window_buckets(x: np.ndarray, prof: dict[str, Any]) -> np.ndarray:
    """Bucket counts of windows ``x`` (shape windows × rows, NaN = null) in the layout of
    ``tether_server.stats.columns`` for numeric columns: [below, bin_0..bin_9, above, missing,
    invalid], vectorised (an independent restatement of the client's binning rules)."""
    w = x.shape[0]
    missing = np.isnan(x)
    below = (x < prof["min"]) & ~missing
    above = (x > prof["max"]) & ~missing
    inside = ~(missing | below | above)
    idx = np.searchsorted(prof["bin_edges"], np.where(inside, x, 0.0), side="right")
    flat = np.where(inside, idx + 10 * np.arange(w)[:, None], 10 * w)  # out-of-bin rows go to a spare slot
    bins = np.bincount(flat.ravel(), minlength=10 * w + 1)[: 10 * w].reshape(w, 10)
    return np.column_stack([below.sum(1), bins, above.sum(1), missing.sum(1), np.zeros(w, dtype=int)])


def reference_buckets(prof: dict[str, Any]) -> np.ndarray:
    return np.array([0, *prof["bin_counts"], 0, prof["nulls"], 0])
