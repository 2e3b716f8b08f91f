"""The drift rules' false-alarm and detection rates, by seeded vectorised simulation (issue 11).

Each test states the rate it measures in its assertion message; ``record_property`` also puts the
rates in the JUnit XML (``--junitxml``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tether._datasets import _profile
from tether.monitoring import build_summary
from tether_server.stats import DriftThresholds, compare_column, psi, psi_levels, psi_noise_floor

from .helpers import categorical_profile, numeric_profile, reference_buckets, window_buckets

M = 100_000  # reference rows
Gen = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
COLUMNS: dict[str, Gen] = {
    "normal": lambda r, s: r.normal(0, 1, s),
    "lognormal": lambda r, s: r.lognormal(0, 1, s),
    "exponential": lambda r, s: r.exponential(2, s),
    "uniform": lambda r, s: r.uniform(-1, 1, s),
    "poisson": lambda r, s: r.poisson(3, s).astype(float),  # ties: duplicate decile edges
    "student_t3": lambda r, s: r.standard_t(3, s),
    "beta": lambda r, s: r.beta(2, 5, s),
    "gamma": lambda r, s: r.gamma(2, 1, s),
    "with_nulls": lambda r, s: np.where(r.random(s) < 0.03, np.nan, r.normal(5, 2, s)),
    "integers": lambda r, s: r.integers(0, 100, s).astype(float),
}


def rates(levels: np.ndarray) -> tuple[float, float]:
    return float(np.mean(levels == 2)), float(np.mean(levels >= 1))


def evaluate(ref_x: np.ndarray, windows: np.ndarray, t: DriftThresholds) -> tuple[np.ndarray, np.ndarray]:
    prof = numeric_profile(ref_x)
    r, w = reference_buckets(prof), window_buckets(windows, prof)
    n, b = w.sum(1), int((r > 0).sum())
    values = psi(r, w, t.epsilon)
    return psi_levels(values, psi_noise_floor(b, n, r.sum(), t.noise_quantile), n, t), values


def test_numpy_helpers_match_the_profiler_and_the_column_code() -> None:
    rng = np.random.default_rng(0)
    x = np.where(rng.random(3000) < 0.05, np.nan, rng.poisson(3, 3000).astype(float))
    real = _profile(["x"], lambda: ([None if np.isnan(v) else v] for v in x.tolist()))[1]["columns"]["x"]
    mine = numeric_profile(x)
    assert {k: mine[k] for k in ("bin_edges", "bin_counts", "nulls", "count", "min", "max")} == {
        k: real[k] for k in ("bin_edges", "bin_counts", "nulls", "count", "min", "max")
    }
    ref = {"format": "tether.profile/1", "rows": 3000, "columns": {"x": real}}
    windows = rng.normal(3, 2, (5, 700))
    windows[:, :20] = np.nan
    vec = psi(reference_buckets(real), window_buckets(windows, real))
    for i, row in enumerate(windows):
        col = build_summary(ref, {"x": row})["columns"]["x"]
        assert compare_column("x", real, col).psi == pytest.approx(vec[i], rel=1e-12)


def test_no_drift_1000_windows_of_500_rows_10_columns(record_property: pytest.RecordProperty) -> None:
    rng = np.random.default_rng(11)
    t = DriftThresholds()
    alerts, flagged, per_column = [], [], {}
    for name, gen in COLUMNS.items():
        levels, _ = evaluate(gen(rng, (M,)), gen(rng, (1000, 500)), t)
        alerts.append(levels == 2)
        flagged.append(levels >= 1)
        per_column[name] = float(np.mean(levels == 2))
    alert_rate, warn_rate = float(np.mean(alerts)), float(np.mean(flagged))
    record_property("no_drift_alert_rate", alert_rate)
    record_property("no_drift_warn_or_alert_rate", warn_rate)
    msg = f"no drift, n=500: alert rate {alert_rate:.4%}, warn-or-alert {warn_rate:.4%}, per column {per_column}"
    print(msg)
    assert alert_rate < 0.01, msg


def test_shift_of_0_6_sigma_at_2000_rows(record_property: pytest.RecordProperty) -> None:
    rng = np.random.default_rng(12)
    t = DriftThresholds()
    per_column, psi_normal = {}, 0.0
    for name, gen in COLUMNS.items():
        ref_x = gen(rng, (M,))
        shift = 0.6 * np.nanstd(ref_x)
        levels, values = evaluate(ref_x, gen(rng, (500 if name == "normal" else 100, 2000)) + shift, t)
        per_column[name] = float(np.mean(levels == 2))
        if name == "normal":
            psi_normal = float(np.median(values))
    record_property("shift_0_6_alert_rate_normal", per_column["normal"])
    msg = f"0.6 sigma shift, n=2000: alert rate {per_column}, median PSI (normal) {psi_normal:.3f}"
    print(msg)
    assert per_column["normal"] >= 0.95, msg
    assert min(per_column.values()) >= 0.95, msg
    assert 0.30 < psi_normal < 0.38, msg


def test_new_category_at_10_percent_alerts(record_property: pytest.RecordProperty) -> None:
    rng = np.random.default_rng(13)
    cats, p = list("abcde"), np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    ref_prof = categorical_profile(rng.choice(cats, M, p=p))
    ref = {"format": "tether.profile/1", "rows": M, "columns": {"c": ref_prof}}
    assert ref_prof["other"] == 0
    statuses = []
    for _ in range(200):
        values = rng.choice([*cats, "brand_new"], 500, p=[*(p * 0.9), 0.1])
        d = compare_column("c", ref_prof, build_summary(ref, {"c": values})["columns"]["c"])
        statuses.append((d.status, {r["rule"] for r in d.reasons}, d.unseen_share))
    rate = float(np.mean([s == "alert" and "unseen" in rules for s, rules, _ in statuses]))
    record_property("new_category_alert_rate", rate)
    msg = f"new category at 10 %, n=500: alert rate {rate:.2%} (min unseen share {min(s[2] for s in statuses):.3f})"
    print(msg)
    assert rate >= 0.99, msg


def test_noise_floor_at_60_row_windows(record_property: pytest.RecordProperty) -> None:
    rng = np.random.default_rng(14)
    t = DriftThresholds(min_rows=50)
    no_floor = DriftThresholds(min_rows=50, noise_quantile=1e-9)  # floor ~ 0: the 0.2 threshold alone
    levels, values = evaluate(rng.normal(0, 1, M), rng.normal(0, 1, (20_000, 60)), t)
    rate = float(np.mean(levels == 2))
    rate_without = float(np.mean(values >= t.psi_alert))
    levels_nf, _ = evaluate(rng.normal(0, 1, M), rng.normal(0, 1, (20_000, 60)), no_floor)
    record_property("noise_floor_alert_rate", rate)
    record_property("without_floor_alert_rate", rate_without)
    msg = (
        f"no drift, n=60, min rows 50, 10 bins: alert rate with the floor {rate:.2%}, "
        f"PSI >= 0.2 without it {rate_without:.2%} ({float(np.mean(levels_nf == 2)):.2%} via a ~0 floor)"
    )
    print(msg)
    assert rate < 0.05, msg
    assert rate_without > 0.15, msg
