"""The candidate-vs-Production comparison against hand-computed rankings and scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tether_server.services.explain.compare import compare, kendall, spearman


def _imp(order: list[str]) -> dict[str, float]:
    """Importances that rank ``order`` first to last (n, n-1, ..., 1)."""
    return {f: float(len(order) - i) for i, f in enumerate(order)}


def test_identical_rankings():
    feats = [f"f{i}" for i in range(15)]
    out = compare(_imp(feats), _imp(feats))
    assert out["top_overlap"] == 1.0 and out["large_change"] is False
    assert out["entered_top"] == [] and out["left_top"] == []
    assert out["spearman"] == pytest.approx(1.0) and out["kendall"] == pytest.approx(1.0)
    assert [c["change"] for c in out["rank_changes"]] == [0] * 10


def test_one_adjacent_swap_of_five():
    # candidate a b c d e; production a b d c e: one discordant pair out of 10,
    # sum d^2 = 2 -> rho = 1 - 6*2/(5*24) = 0.9, tau = 1 - 2*1/10 = 0.8
    out = compare(_imp(list("abcde")), _imp(list("abdce")))
    assert out["spearman"] == pytest.approx(0.9)
    assert out["kendall"] == pytest.approx(0.8)
    changes = {c["feature"]: c for c in out["rank_changes"]}
    assert changes["c"] == {"feature": "c", "candidate_rank": 3, "production_rank": 4, "change": 1}
    assert changes["d"]["change"] == -1 and changes["a"]["change"] == 0
    assert out["top_overlap"] == 1.0


def test_reversed_ranking_is_minus_one():
    feats = list("abcdefgh")
    out = compare(_imp(feats), _imp(feats[::-1]))
    assert out["spearman"] == pytest.approx(-1.0) and out["kendall"] == pytest.approx(-1.0)


def test_entering_and_leaving_the_top_10_and_large_change():
    base = [f"f{i:02d}" for i in range(20)]
    # candidate: f10..f19 lead (the production top 10 fall to ranks 11-20)
    cand = _imp(base[10:] + base[:10])
    out = compare(cand, _imp(base))
    assert out["top_overlap"] == 0.0 and out["large_change"] is True
    assert out["entered_top"] == base[10:] and out["left_top"] == base[:10]
    f00 = next(c for c in out["rank_changes"] if c["feature"] == "f00")
    assert (f00["candidate_rank"], f00["production_rank"], f00["change"]) == (11, 1, -10)

    # 6 of the top 10 kept: overlap 0.6, not a large change; 4 kept: 0.4, a large change
    keep6 = base[:6] + base[10:14] + base[6:10] + base[14:]
    assert compare(_imp(keep6), _imp(base))["top_overlap"] == pytest.approx(0.6)
    assert compare(_imp(keep6), _imp(base))["large_change"] is False
    keep4 = base[:4] + base[10:16] + base[4:10] + base[16:]
    res = compare(_imp(keep4), _imp(base))
    assert res["top_overlap"] == pytest.approx(0.4) and res["large_change"] is True
    assert set(res["entered_top"]) == set(base[10:16]) and set(res["left_top"]) == set(base[4:10])


def test_features_missing_on_one_side_and_absolute_values():
    cand = {"a": -5.0, "b": 1.0, "new": 3.0}  # a negative coefficient ranks by |value|
    prod = {"a": 4.0, "b": 2.0, "gone": 1.0}
    out = compare(cand, prod)
    ranks = {c["feature"]: (c["candidate_rank"], c["production_rank"]) for c in out["rank_changes"]}
    assert ranks == {"a": (1, 1), "new": (2, None), "b": (3, 2), "gone": (None, 3)}
    assert out["common_features"] == 2 and out["only_candidate"] == 1 and out["only_production"] == 1
    assert out["top_overlap"] == pytest.approx(2 / 3)
    assert out["candidate_top"][0] == {"rank": 1, "feature": "a", "importance": -5.0}


def test_correlations_undefined_cases():
    assert compare({"a": 1.0}, {"a": 2.0})["spearman"] is None
    assert compare({"a": 1.0, "b": 1.0}, {"a": 2.0, "b": 1.0})["kendall"] is None  # constant side


def test_spearman_and_kendall_match_scipy_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(3, 60))
        a = rng.integers(0, 8, n).astype(float)  # many ties
        b = a + rng.normal(0, 2, n).round()
        if np.all(a == a[0]) or np.all(b == b[0]):
            continue
        assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
        assert kendall(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
