"""SDK-side window summaries: rows/s of ``tether.monitoring.build_summary`` (issue 11: at least
1,000,000 rows/s with numpy, 10 numeric columns), plus merge and the pure-Python fallback.

    .venv/bin/python -m bench.monitoring_stats [--rows 1000000] [--repeat 5]

Prints a table; nothing here is a test. Run on a quiet machine: the table ends with the load
average, since the cores are shared.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tether.monitoring import build_summary, merge

COLUMNS = 10
TARGET = 1_000_000


def reference(rng: np.random.Generator, m: int = 100_000) -> dict[str, Any]:
    """A tether.profile/1 reference with the profile's decile rule, built with numpy."""
    cols = {}
    for j in range(COLUMNS):
        x = np.sort(rng.normal(j, 1 + j / 10, m))
        edges = [float(x[int(q * m / 10)]) for q in range(1, 10)]
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=10).tolist()
        cols[f"f{j}"] = {
            "kind": "numeric",
            "type": "float",
            "count": m,
            "nulls": 0,
            "mean": float(x.mean()),
            "m2": float(((x - x.mean()) ** 2).sum()),
            "min": float(x[0]),
            "max": float(x[-1]),
            "bin_edges": edges,
            "bin_counts": counts,
        }
    return {"format": "tether.profile/1", "rows": m, "columns": cols}


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ref = reference(rng)
    n = args.rows
    data = {f"f{j}": rng.normal(j + 0.1, 1 + j / 10, n) for j in range(COLUMNS)}
    data["f3"][rng.random(n) < 0.01] = np.nan  # some NaN and out-of-range values, as in production
    data["f4"][rng.random(n) < 0.01] = 1e9
    rows: list[tuple[str, float, str]] = []

    def add(name: str, seconds: float, count: int, target: float | None = None) -> None:
        rate = count / seconds
        verdict = "" if target is None else ("PASS" if rate >= target else "FAIL")
        label = f">= {target:,.0f}" if target else "-"
        rows.append((name, rate, f"{label:>12} {verdict}"))

    add("numpy, dict of arrays (10 numeric)", best(lambda: build_summary(ref, data), args.repeat), n, TARGET)
    try:
        import pandas as pd

        df = pd.DataFrame(data)
        add("numpy, pandas DataFrame", best(lambda: build_summary(ref, df), args.repeat), n, TARGET)
    except ImportError:
        pass
    try:
        import pyarrow as pa

        tbl = pa.table(data)
        add("numpy, pyarrow Table", best(lambda: build_summary(ref, tbl), args.repeat), n, TARGET)
    except ImportError:
        pass
    small = max(1, n // 20)
    part = {k: v[:small] for k, v in data.items()}
    records = [
        dict(zip(part, vals, strict=True)) for vals in zip(*(v.tolist() for v in part.values()), strict=True)
    ]
    add("numpy, list of dicts", best(lambda: build_summary(ref, records), 2), small)
    add("pure Python, list of dicts", best(lambda: build_summary(ref, records, use_numpy=False), 2), small)
    s = build_summary(ref, part)
    add("merge (10 columns), merges/s", best(lambda: [merge(s, s) for _ in range(1000)], 3), 1000)
    print(f"{'workload':<40} {'rows/s':>14} {'target':>17}")
    for name, rate, target in rows:
        print(f"{name:<40} {rate:>14,.0f} {target}")
    print(f"rows per run: {n:,} (list-of-dicts runs: {small:,}); load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
