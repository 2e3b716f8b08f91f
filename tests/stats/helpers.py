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
    return {"kind": "numeric", "type": "float", "count": int(m), "nulls": int(x.size - m), "mean": mean,
            "m2": float(((values - mean) ** 2).sum()), "min": float(values[0]), "max": float(values[-1]),
            "bin_edges": edges, "bin_counts": [int(c) for c in counts]}


def categorical_profile(values: np.ndarray, top_k: int = 50) -> dict[str, Any]:
    counts = Counter(values.tolist())
    top = counts.most_common(top_k)
    return {"kind": "categorical", "type": "string", "count": int(values.size), "nulls": 0,
            "top": [[str(v), int(c)] for v, c in top], "other": int(values.size - sum(c for _, c in top))}
