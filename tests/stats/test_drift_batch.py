"""The batched drift path (``compare_columns``/``compare_windows``: every column of many windows
stacked by bucket count, one ``np.errstate``) gives the per-column path's numbers and statuses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tether.monitoring import build_summary
from tether_server.stats import (
    DriftThresholds,
    compare_column,
    compare_columns,
    compare_window,
    compare_windows,
)

from .helpers import categorical_profile, numeric_profile


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _random_numeric(rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    ref = numeric_profile(np.where(rng.random(2000) < 0.05, np.nan, rng.normal(0, 1, 2000)))
    if rng.random() < 0.3:  # empty reference bins (duplicate edges) and no reference nulls
        ref["bin_counts"] = [int(c) if rng.random() < 0.6 else 0 for c in ref["bin_counts"]]
        ref["nulls"] = 0
    counts = [int(c) if rng.random() < 0.7 else 0 for c in rng.integers(0, 400, 10)]
    below, above, nulls, nan, invalid = (int(c) if rng.random() < 0.5 else 0 for c in rng.integers(0, 50, 5))
    n = sum(counts) + below + above + nulls + nan + invalid
    if rng.random() < 0.1:  # an empty window: NaN statistics
        counts, below, above, nulls, nan, invalid, n = [0] * 10, 0, 0, 0, 0, 0, 0
    win = {
        "kind": "numeric",
        "n": n,
        "counts": counts,
        "below": below,
        "above": above,
        "nulls": nulls,
        "nan": nan,
        "invalid": invalid,
        "min": None if not below else ref["min"] - float(rng.random() * 3),
        "max": None if not above else ref["max"] + float(rng.random() * 3),
        "absent": n if rng.random() < 0.05 else 0,
    }
    return ref, win


def _random_categorical(rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    k = int(rng.integers(1, 8))  # different bucket counts in one batch
    values = rng.choice([f"c{i}" for i in range(k + int(rng.integers(0, 3)))], 1000)
    ref = categorical_profile(values, top_k=k)
    if rng.random() < 0.5:
        ref["nulls"] = int(rng.integers(1, 30))
    counts = [int(c) if rng.random() < 0.7 else 0 for c in rng.integers(0, 300, len(ref["top"]))]
    other, nulls = (int(c) if rng.random() < 0.5 else 0 for c in rng.integers(0, 80, 2))
    n = sum(counts) + other + nulls
    win = {"kind": "categorical", "n": n, "counts": counts, "other": other, "nulls": nulls}
    return ref, win


@pytest.mark.parametrize("seed", range(5))
def test_compare_columns_equals_compare_column_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = DriftThresholds(min_rows=int(rng.integers(0, 600)), epsilon=float(rng.choice([1e-4, 1e-3])))
    items = []
    for i in range(120):
        ref, win = _random_numeric(rng) if rng.random() < 0.6 else _random_categorical(rng)
        items.append((f"col{i}", ref, win))
    batched = compare_columns(items, t)
    assert len(batched) == len(items)
    for (name, ref, win), b in zip(items, batched, strict=True):
        single = compare_column(name, ref, win, t)
        assert _same(b.to_dict(), single.to_dict()), name
    assert {b.kind for b in batched} == {"numeric", "categorical"}
    assert any(b.n == 0 for b in batched) and any(b.status == "alert" for b in batched)


def test_compare_windows_equals_compare_window_on_real_summaries() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 5000)
    ref = {
        "format": "tether.profile/1",
        "columns": {
            "x": numeric_profile(x),
            "y": numeric_profile(np.where(rng.random(5000) < 0.1, np.nan, rng.exponential(1, 5000))),
            "c": categorical_profile(rng.choice(["a", "b", "c"], 5000, p=[0.6, 0.3, 0.1])),
            "d": categorical_profile(rng.choice([f"v{i}" for i in range(60)], 5000)),
        },
    }
    pairs = []
    for shift in (0.0, 0.3, 1.5):
        n = int(rng.integers(200, 2000))
        xs: list[Any] = list(rng.normal(shift, 1, n))
        xs[:5] = [None, float("nan"), "oops", 99.0, -99.0]  # null, NaN, invalid, out of range
        rows = {
            "x": xs,
            "y": list(rng.exponential(1 + shift, n)),
            "c": list(rng.choice(["a", "b", "new"], n)),
            "d": list(rng.choice([f"v{i}" for i in range(70)], n)),
        }
        pairs.append((ref, build_summary(ref, rows)))
    pairs.append((ref, build_summary(ref, {"x": [], "y": [], "c": [], "d": []})))
    imp = {"x": 0.5, "y": 0.2, "c": 0.3}
    batched = compare_windows(pairs, prediction_column="c", importances=imp)
    for (profile, summary), (cols, verdict) in zip(pairs, batched, strict=True):
        single_cols, single_verdict = compare_window(profile, summary, prediction_column="c", importances=imp)
        assert list(cols) == list(single_cols)
        for name in cols:
            assert _same(cols[name].to_dict(), single_cols[name].to_dict()), name
        assert verdict == single_verdict


def test_noise_floor_of_many_columns_equals_the_one_column_floor_and_scipy() -> None:
    from scipy.stats import chi2

    from tether_server.stats import psi_noise_floor

    rng = np.random.default_rng(3)
    b = rng.integers(0, 15, 200)  # few distinct B: the batched quantile is taken once per B
    n, m = rng.integers(1, 5000, 200), rng.integers(1, 5000, 200)
    many = psi_noise_floor(b, n, m, 0.99)
    one = [float(psi_noise_floor(int(x), int(y), int(z), 0.99)) for x, y, z in zip(b, n, m, strict=True)]
    assert many.tolist() == one
    expect = np.where(b > 1, chi2.ppf(0.99, np.maximum(b - 1, 1)), 0.0) * (1 / n + 1 / m)
    assert np.allclose(many, expect, rtol=1e-9)
