"""Performance metrics and their bounds against scipy, bound coverage by simulation, and the decay
and z-score rules with the issue's simulations (rates in the assertion messages)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, mannwhitneyu, ttest_1samp

from tether.monitoring import binary_summary, multiclass_summary, regression_summary
from tether_server.stats import (
    DecayThresholds,
    auc_binned,
    decay_alerts,
    evaluate_history,
    hanley_mcneil_se,
    metric_estimate,
    tolerance,
    wilson_bound,
    zscore_warnings,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (7, 10), (10, 10), (900, 1000), (1, 3)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.90, method="wilson")  # one-sided 95 % each end
    assert wilson_bound(k, n, 0.95, upper=True) == pytest.approx(ci.high, abs=1e-9)
    assert wilson_bound(k, n, 0.95, upper=False) == pytest.approx(ci.low, abs=1e-9)
    assert np.isnan(wilson_bound(0, 0))


def _binary(seed: int, n: int = 4000, sep: float = 0.25) -> tuple[np.ndarray, np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    score = np.clip(rng.normal(0.4 + sep * y, 0.2), 0, 1)
    return y, score, binary_summary(y, score)


def test_binary_metrics_and_auc_against_scipy() -> None:
    y, score, s = _binary(1)
    pred = score >= 0.5
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    assert metric_estimate(s, "accuracy").value == pytest.approx(np.mean(pred == y))
    assert metric_estimate(s, "precision").value == pytest.approx(tp / (tp + fp))
    assert metric_estimate(s, "recall").value == pytest.approx(tp / (tp + fn))
    f1 = metric_estimate(s, "f1")
    assert f1.value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    j_hi = binomtest(tp, tp + fp + fn).proportion_ci(confidence_level=0.90, method="wilson").high
    assert f1.bound == pytest.approx(2 * j_hi / (1 + j_hi), abs=1e-9) and f1.bound > f1.value
    idx = np.clip(np.floor(score * 20), 0, 19)
    u = mannwhitneyu(idx[y], idx[~y]).statistic / (y.sum() * (~y).sum())
    auc = metric_estimate(s, "auc")
    assert auc.value == pytest.approx(u, abs=1e-9)
    assert auc.bound == pytest.approx(
        auc.value + 1.6448536269514722 * hanley_mcneil_se(u, y.sum(), (~y).sum()), abs=1e-9
    )
    acc = metric_estimate(multiclass_summary(list("aabbc"), list("abbbc")), "accuracy")
    assert acc.value == 0.8 and acc.bound == pytest.approx(binomtest(4, 5).proportion_ci(0.9, "wilson").high)
    with pytest.raises(ValueError, match="metric"):
        metric_estimate(s, "rmse")


def test_regression_bounds_against_scipy_t() -> None:
    rng = np.random.default_rng(2)
    t, p = rng.normal(size=800), rng.normal(size=800)
    e = p - t
    s = regression_summary(t, p)
    mae = metric_estimate(s, "mae")
    assert mae.value == pytest.approx(np.abs(e).mean())
    assert mae.bound == pytest.approx(ttest_1samp(np.abs(e), 0).confidence_interval(0.90).low, rel=1e-9)
    rmse = metric_estimate(s, "rmse")
    assert rmse.value == pytest.approx(np.sqrt((e**2).mean()))
    assert rmse.bound == pytest.approx(np.sqrt(ttest_1samp(e**2, 0).confidence_interval(0.90).low), rel=1e-9)
    assert not rmse.higher_is_better and rmse.bound < rmse.value


def test_auc_and_f1_bounds_cover_at_least_95_percent() -> None:
    """One-sided coverage by simulation: the upper bound is >= the population value in >= ~95 %
    of 2,000 windows (population AUC/F1 taken from a 1,000,000-row sample)."""
    rng = np.random.default_rng(3)
    big_y = rng.random(1_000_000) < 0.3
    big = binary_summary(big_y, np.clip(rng.normal(0.4 + 0.25 * big_y, 0.2), 0, 1))
    true_auc, true_f1 = metric_estimate(big, "auc").value, metric_estimate(big, "f1").value
    n, sims = 1000, 2000
    y = rng.random((sims, n)) < 0.3
    score = np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0, 1)
    idx = np.clip(np.floor(score * 20), 0, 19).astype(int)
    flat = idx + 20 * np.arange(sims)[:, None]
    pos = np.bincount(flat[y], minlength=20 * sims).reshape(sims, 20)
    neg = np.bincount(flat[~y], minlength=20 * sims).reshape(sims, 20)
    auc = auc_binned(pos, neg)
    cover_auc = np.mean(
        np.minimum(1, auc + 1.6448536269514722 * hanley_mcneil_se(auc, pos.sum(1), neg.sum(1))) >= true_auc
    )
    hit = score >= 0.5
    tp, fp, fn = (hit & y).sum(1), (hit & ~y).sum(1), (~hit & y).sum(1)
    j = wilson_bound(tp, tp + fp + fn)
    cover_f1 = np.mean(2 * j / (1 + j) >= true_f1)
    msg = (
        f"one-sided 95 % coverage: AUC (Hanley-McNeil) {cover_auc:.3f}, F1 (Wilson on Jaccard) {cover_f1:.3f}"
    )
    print(msg)
    assert cover_auc >= 0.93 and cover_f1 >= 0.93, msg


def test_decay_rule_mechanics() -> None:
    assert tolerance(0.9) == pytest.approx(0.045) and tolerance(0.3) == 0.02 and tolerance(-4.0) == 0.2
    b = [0.9, 0.84, 0.9, 0.84, 0.84, 0.84, np.nan, 0.84]
    assert decay_alerts(b, 0.9, True).tolist() == [False, False, False, False, True, True, False, False]
    assert decay_alerts([1.0, 1.3, 1.3], 1.0, False).tolist() == [False, False, True]
    three = DecayThresholds(consecutive=3)
    assert decay_alerts(b, 0.9, True, three).tolist() == [False] * 5 + [True, False, False]
    z = zscore_warnings([0.90, 0.91, 0.89] * 4 + [0.85, 0.95], True)
    assert z.tolist() == [False] * 12 + [True, False]
    assert not zscore_warnings([0.90, 0.91, 0.89] * 3 + [0.5], True).any()  # 9 windows of history only
    assert zscore_warnings([1.0, 1.1, 0.9] * 4 + [2.0], False)[-1]


def _accuracy_histories(
    rng: np.random.Generator, sims: int, p_after: float, after: int, n: int = 1000
) -> np.ndarray:
    p = np.r_[np.full(30, 0.90), np.full(after, p_after)]
    correct = rng.binomial(n, p, size=(sims, p.size))
    return correct


def test_decay_simulations(record_property: pytest.RecordProperty) -> None:
    """Validation accuracy 0.90, 30 windows of history at 0.90, 1,000 labelled rows per window."""
    rng = np.random.default_rng(4)
    t, n, sims = DecayThresholds(), 1000, 4000

    def run(p_after: float, after: int) -> tuple[np.ndarray, np.ndarray]:
        correct = _accuracy_histories(rng, sims, p_after, after, n)
        alerts = decay_alerts(wilson_bound(correct, n, t.confidence), 0.90, True, t)
        return alerts, zscore_warnings(correct / n, True, t)

    alerts, _ = run(0.80, 2)
    detect = float(np.mean(alerts[:, 30:32].any(1)))
    alerts, warns = run(0.88, 10)
    small = float(np.mean(alerts[:, 30:].any(1)))
    small_z = float(np.mean(warns[:, 30:].any(1)))
    alerts, warns = run(0.90, 0)
    false = float(np.mean(alerts))
    false_z = float(np.mean(warns[:, 10:]))
    for k, v in {
        "decay_detect_within_2": detect,
        "decay_0_88_any_in_10": small,
        "decay_no_drop_window_rate": false,
        "zscore_no_drop_window_rate": false_z,
    }.items():
        record_property(k, v)
    msg = (
        f"drop to 0.80: alert within 2 windows in {detect:.2%} of simulations; drop to 0.88: an alert "
        f"within 10 windows in {small:.2%} (z-score warning in {small_z:.2%}); no drop: {false:.3%} of "
        f"windows alert, {false_z:.3%} warn"
    )
    print(msg)
    assert detect >= 0.95 and small < 0.05 and false < 0.01, msg


def test_evaluate_history_gives_a_status_per_window() -> None:
    rng = np.random.default_rng(5)
    correct = np.r_[rng.binomial(1000, 0.9, 30), [800, 790, 900]]
    bounds = wilson_bound(correct, 1000)
    out = evaluate_history((correct / 1000).tolist(), bounds.tolist(), 0.90, True)
    assert [o["status"] for o in out[30:]] == ["warn", "alert", "ok"]
    assert out[31]["decay_alert"] and out[31]["bound"] == pytest.approx(float(bounds[31]))
    assert all(o["status"] == "ok" for o in out[:30])
    with pytest.raises(ValueError, match="one entry per window"):
        evaluate_history([0.9], [], 0.9, True)
