"""Drift statistics against direct numpy/scipy computations, and the column/dataset rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2, ks_2samp, wasserstein_distance

from tether.monitoring import build_summary
from tether_server.stats import (
    DriftThresholds,
    compare_column,
    compare_window,
    dataset_drift,
    importance_drift_share,
    js_distance,
    ks_binned,
    linf_distance,
    psi,
    psi_noise_floor,
    wasserstein_binned,
)

from .helpers import categorical_profile, numeric_profile

RNG = np.random.default_rng(20261130)
PAIRS = [
    (RNG.integers(1, 500, 12), RNG.integers(0, 300, 12)),
    (np.array([100, 0, 50, 3, 0, 7]), np.array([0, 10, 50, 0, 0, 1])),  # zeros on both sides
    (RNG.integers(1, 20_000, 20), RNG.integers(1, 20_000, 20)),
]


def direct_psi(ref: np.ndarray, cur: np.ndarray, eps: float = 1e-4) -> float:
    total = 0.0
    for r, c in zip(ref / ref.sum(), cur / cur.sum(), strict=True):
        r, c = (eps if r == 0 else r), (eps if c == 0 else c)
        total += (c - r) * math.log(c / r)
    return total


@pytest.mark.parametrize(("ref", "cur"), PAIRS)
def test_psi_js_linf_match_direct_computations(ref: np.ndarray, cur: np.ndarray) -> None:
    assert psi(ref, cur) == pytest.approx(direct_psi(ref, cur), abs=1e-9)
    assert js_distance(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-9)
    assert linf_distance(ref, cur) == pytest.approx(np.abs(ref / ref.sum() - cur / cur.sum()).max(), abs=1e-9)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12) and js_distance(ref, ref) == pytest.approx(
        0, abs=1e-7
    )


@pytest.mark.parametrize(("ref", "cur"), PAIRS)
def test_binned_ks_and_wasserstein_match_scipy_on_the_bins(ref: np.ndarray, cur: np.ndarray) -> None:
    idx = np.arange(len(ref))
    # KS of the samples made of bucket indices is exactly the CDF gap at the bucket boundaries
    assert ks_binned(ref, cur) == pytest.approx(
        ks_2samp(np.repeat(idx, ref), np.repeat(idx, cur)).statistic, abs=1e-9
    )
    mid = np.cumsum(RNG.random(len(ref))) - 3.0
    expected = wasserstein_distance(mid, mid, u_weights=ref, v_weights=cur) / 1.7
    assert wasserstein_binned(ref, cur, mid, 1.7) == pytest.approx(expected, abs=1e-9)


def test_statistics_broadcast_over_windows() -> None:
    ref = RNG.integers(1, 100, 10)
    windows = RNG.integers(0, 100, (7, 10))
    mid = np.arange(10.0)
    for fn, args in ((psi, ()), (js_distance, ()), (ks_binned, ()), (wasserstein_binned, (mid, 2.0))):
        many = fn(ref, windows, *args)
        assert many.shape == (7,)
        assert many == pytest.approx([fn(ref, w, *args) for w in windows], abs=1e-12)


def test_noise_floor_is_the_chi2_quantile() -> None:
    assert psi_noise_floor(10, 500, 100_000) == pytest.approx(
        chi2.ppf(0.99, 9) * (1 / 500 + 1 / 100_000), rel=1e-12
    )
    assert psi_noise_floor(1, 500, 1000) == 0.0
    assert psi_noise_floor([10, 12], [500, 60], 10_000, 0.95) == pytest.approx(
        [chi2.ppf(0.95, 9) * (1 / 500 + 1e-4), chi2.ppf(0.95, 11) * (1 / 60 + 1e-4)], rel=1e-12
    )


# ---------------------------------------------------------------- columns from real summaries


def _normal_reference(m: int = 100_000) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, m)
    x[rng.random(m) < 0.02] = np.nan  # nulls in the reference
    return {
        "format": "tether.profile/1",
        "rows": m,
        "columns": {
            "x": numeric_profile(x),
            "c": categorical_profile(rng.choice(list("abcd"), m, p=[0.4, 0.3, 0.2, 0.1])),
            "r": categorical_profile(rng.integers(0, 80, m).astype(str)),
        },
    }


REF = _normal_reference()


def test_compare_numeric_column_buckets_and_statistics() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0.6, 1, 5000)
    x[:50] = np.nan
    x[50:60] = 50.0  # out of range above
    s = build_summary(REF, {"x": x}, columns=["x"])
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    ref, win = REF["columns"]["x"], s["columns"]["x"]
    r = np.array([0, *ref["bin_counts"], 0, ref["nulls"], 0])
    w = np.array([win["below"], *win["counts"], win["above"], win["nulls"] + win["nan"], win["invalid"]])
    assert d.psi == pytest.approx(direct_psi(r, w), abs=1e-9)
    assert d.js == pytest.approx(jensenshannon(r, w, base=2), abs=1e-9)
    assert d.buckets == 11  # 10 deciles + the reference's null bucket
    assert d.noise_floor == pytest.approx(chi2.ppf(0.99, 10) * (1 / 5000 + 1 / 100_000))
    assert d.ks == pytest.approx(
        np.abs(np.cumsum(r[:-2]) / r[:-2].sum() - np.cumsum(w[:-2]) / w[:-2].sum()).max()
    )
    assert d.out_of_range_share == pytest.approx(10 / 5000)
    assert 0.4 < d.wasserstein < 0.7  # 0.6 sigma shift, binned
    assert d.status == "alert" and d.drifted and d.reasons[0]["rule"] == "psi"


def test_small_windows_are_not_evaluated_and_thresholds_are_overridable() -> None:
    rng = np.random.default_rng(3)
    s = build_summary(REF, {"x": rng.normal(0.8, 1, 300)}, columns=["x"])
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    assert d.psi > 0.2 and d.insufficient_data and d.status == "ok"
    d = compare_column(
        "x", REF["columns"]["x"], s["columns"]["x"], DriftThresholds(min_rows=100, psi_alert=5.0)
    )
    assert d.status == "warn" and d.reasons[0]["threshold"] == 0.1
    with pytest.raises(ValueError):
        DriftThresholds(psi_warn=0.3, psi_alert=0.2)


def test_null_rate_rise_alerts_above_five_points() -> None:
    rng = np.random.default_rng(4)
    for extra, expected in ((0.03, False), (0.09, True)):
        x = rng.normal(0, 1, 2000)
        x[: int(2000 * (0.02 + extra))] = np.nan
        s = build_summary(REF, {"x": x}, columns=["x"])
        d = compare_column(
            "x", REF["columns"]["x"], s["columns"]["x"], DriftThresholds(psi_alert=10, psi_warn=10)
        )
        assert any(r["rule"] == "null_rate" for r in d.reasons) is expected, d.reasons
        assert d.null_share_change == pytest.approx(extra, abs=0.002)


def test_type_change_and_missing_column() -> None:
    s = build_summary(REF, [{"x": "n/a-ish", "c": "a"}] * 600 + [{"x": 0.1, "c": "b"}] * 400)
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    assert d.invalid_share == pytest.approx(0.6) and {r["rule"] for r in d.reasons} >= {"type", "psi"}
    s = build_summary(REF, [{"c": "a"}] * 600)
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    assert d.missing and d.status == "alert" and d.reasons[0]["rule"] == "missing_column"


def test_unseen_categories_only_when_the_reference_listed_all() -> None:
    rng = np.random.default_rng(5)
    values = rng.choice(list("abcd"), 2000, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    values[:30] = "new"  # 1.5 %: warn
    s = build_summary(REF, {"c": values, "r": rng.integers(0, 100, 2000).astype(str)}, columns=["c", "r"])
    c = compare_column("c", REF["columns"]["c"], s["columns"]["c"])
    assert c.unseen_share == pytest.approx(0.015) and c.status == "warn" and c.other_share_change is None
    assert [r["rule"] for r in c.reasons] == ["unseen"]
    r = compare_column("r", REF["columns"]["r"], s["columns"]["r"])
    ref_other = REF["columns"]["r"]["other"] / REF["columns"]["r"]["count"]
    assert r.unseen_share is None
    assert r.other_share_change == pytest.approx(s["columns"]["r"]["other"] / 2000 - ref_other)
    assert r.wasserstein is None and r.ks == pytest.approx(
        float(
            linf_distance(
                [*(n for _, n in REF["columns"]["r"]["top"]), REF["columns"]["r"]["other"], 0],
                [*s["columns"]["r"]["counts"], s["columns"]["r"]["other"], 0],
            )
        )
    )


def test_dataset_verdicts() -> None:
    five = {f"f{i}": i < 2 for i in range(5)}
    v = dataset_drift(five)
    assert (v.drifted, v.share, v.drifted_columns) == (False, 0.4, ["f0", "f1"])
    assert dataset_drift({**five, "f2": True}).drifted
    v = dataset_drift({**five, "pred": True}, prediction_column="pred")
    assert v.drifted and v.prediction_drifted and v.share == 0.4
    imp = {"f0": 5.0, "f1": -1.0, "f2": 2.0, "f3": 1.0, "f4": 1.0}
    assert importance_drift_share(five, imp) == pytest.approx(0.6)
    v = dataset_drift(five, importances=imp)
    assert v.importance_share == pytest.approx(0.6) and v.importance_drifted and not v.drifted
    assert not dataset_drift(
        five, importances=imp, thresholds=DriftThresholds(importance_share=0.7)
    ).importance_drifted
    assert importance_drift_share(five, {}) == 0.0


def test_compare_window_end_to_end() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, 3000)
    x[:60] = np.nan  # the reference's 2 % of nulls (a vanished null bucket alone moves PSI, see below)
    data = {
        "x": x,
        "c": rng.choice(list("abcd"), 3000, p=[0.1, 0.2, 0.3, 0.4]),
        "r": rng.integers(0, 80, 3000).astype(str),
    }
    cols, verdict = compare_window(REF, build_summary(REF, data), prediction_column="x")
    assert cols["x"].status == "ok" and cols["c"].status == "alert" and cols["r"].status == "ok"
    assert verdict.drifted_columns == ["c"] and verdict.share == 0.5 and verdict.drifted
    assert cols["c"].to_dict()["psi"] == cols["c"].psi


def test_a_vanished_bucket_costs_its_epsilon_smoothed_share() -> None:
    """Evidently's ε-smoothing: a reference bucket with share p that is empty in the window adds
    (p − ε)·ln(p/ε) to PSI, here the 2 % null bucket: 0.02·ln(200) ≈ 0.105, a warning."""
    rng = np.random.default_rng(7)
    s = build_summary(REF, {"x": rng.normal(0, 1, 3000)}, columns=["x"])
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    p = REF["columns"]["x"]["nulls"] / REF["rows"]
    assert d.psi == pytest.approx((p - 1e-4) * math.log(p / 1e-4), abs=0.02)
    assert d.status == "warn" and d.null_share_change == pytest.approx(-p)


def test_empty_window_serialises_without_nan() -> None:
    s = build_summary(REF, [], columns=["x"])
    d = compare_column("x", REF["columns"]["x"], s["columns"]["x"])
    assert d.status == "ok" and d.insufficient_data
    out = d.to_dict()
    assert out["psi"] is None and out["js"] is None and out["n"] == 0
    with pytest.raises(ValueError):
        DriftThresholds(unseen_warn=0.1, unseen_alert=0.05)
