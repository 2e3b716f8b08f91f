"""Vectorised A/B simulations shared by the statistics tests (seeded; thousands of tests at once)."""

from __future__ import annotations

import numpy as np

from tether_server.stats.sequential import decision_codes, difference_cs, enough_data


class Arms:
    """Cumulative sufficient statistics of one arm across ``n_tests`` simulated tests."""

    def __init__(self, n_tests: int) -> None:
        self.n = np.zeros(n_tests)
        self.s = np.zeros(n_tests)
        self.q = np.zeros(n_tests)
        self.e = np.zeros(n_tests)

    def add_binary(self, rng: np.random.Generator, n_new: np.ndarray, p: float) -> None:
        k = rng.binomial(n_new.astype(np.int64), p)
        self.n += n_new
        self.s += k
        self.q += k
        self.e += k

    def add_skewed(
        self,
        rng: np.random.Generator,
        n_new: np.ndarray,
        p_nonzero: float = 0.1,
        mu: float = 3.0,
        sigma: float = 1.0,
    ) -> None:
        """Revenue-like: a unit buys with probability ``p_nonzero`` and spends lognormal(mu, sigma)."""
        k = rng.binomial(n_new.astype(np.int64), p_nonzero)
        y = rng.lognormal(mu, sigma, int(k.sum()))
        idx = np.repeat(np.arange(k.size), k)
        self.n += n_new
        self.s += np.bincount(idx, y, minlength=k.size)
        self.q += np.bincount(idx, y * y, minlength=k.size)
        self.e += k


def first_decisions(
    rng: np.random.Generator,
    *,
    n_tests: int,
    looks: int,
    units_per_look: int,
    share_t: float,
    metric: str,
    p_c: float = 0.1,
    p_t: float = 0.1,
    widen: float = 1.0,
    fixed_z: float | None = None,
    **cs_kwargs,
) -> np.ndarray:
    """First decision code per test over ``looks`` interim looks (0 = never decided).

    Each look adds ``units_per_look`` units split at random with the planned share (binomial), so the
    default minimum sample binds for the early looks of the small arm. ``widen`` multiplies the
    half-width (a deliberately wrong, wider sequence for the sensitivity check); ``fixed_z`` replaces
    the sequence by a fixed-horizon interval effect ± z·SE (naive peeking, for contrast).
    """
    c, t = Arms(n_tests), Arms(n_tests)
    first = np.zeros(n_tests, dtype=np.int8)
    for _ in range(looks):
        n_t = rng.binomial(units_per_look, share_t, n_tests).astype(float)
        n_c = units_per_look - n_t
        if metric == "proportion":
            c.add_binary(rng, n_c, p_c)
            t.add_binary(rng, n_t, p_t)
            mtype = "proportion"
        else:
            c.add_skewed(rng, n_c)
            t.add_skewed(rng, n_t)
            mtype = "mean"
        eff, lo, hi, se = difference_cs(c.n, c.s, c.q, t.n, t.s, t.q, metric_type=mtype, **cs_kwargs)
        if widen != 1.0:
            half = (hi - lo) / 2
            lo, hi = eff - widen * half, eff + widen * half
        if fixed_z is not None:
            lo, hi = eff - fixed_z * se, eff + fixed_z * se
        code = decision_codes(lo, hi, enough_data(c.n, c.e, t.n, t.e))
        first = np.where(first == 0, code, first)
    return first
