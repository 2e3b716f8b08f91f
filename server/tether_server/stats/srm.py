"""Sample-ratio-mismatch (SRM) check of observed arm counts against the planned traffic shares.

Two statistics over the same counts (vectorised over leading axes; arms on the last axis):

* **Pearson χ² goodness of fit** (GrowthBook's SRM check, threshold p < 0.001):
  X² = Σ (O_i − E_i)² / E_i with E_i = N·π_i, df = (arms with a planned share > 0) − 1,
  p = P(χ²_df ≥ X²) (``scipy.special.chdtrc``, the χ² survival function). Valid for **one** look at the data.

* **Always-valid (sequential) χ²**, used for the decision because the server re-checks after every
  outcome window. It is the normal-mixture martingale of Robbins (1970) for the (k − 1)-dimensional
  whitened random walk of the counts, the same construction as the asymptotic confidence sequence of
  Waudby-Smith et al. (arXiv:2103.06476, eq. 9 and 161) that decides the primary metric:

      ρ² = (−2 ln α + ln(1 − 2 ln α)) / N_tune,     M_N = (1 + Nρ²)^{−df/2} · exp( ρ² N X² / (2(1 + Nρ²)) )
      p_seq = min(1, 1 / M_N)

  Under the planned split M_N is (asymptotically) a nonnegative martingale with mean 1, so by Ville's
  inequality P(p_seq ever < α) ≤ α over **any number of checks**. For df = 1 it is exactly gbstats'
  sequential e-value with z² = X². It is a little less sensitive than one χ² look (at N = 10,000 and
  50/50 it needs X² ≈ 18 instead of 10.8), which SRM can afford: real SRMs are large (a 51/49
  observed split of a 50/50 plan on 100,000 units has X² = 40, p_seq ≈ 4e-8).

Policy (``srm_check``): flag when p_seq < 0.001; the server keeps the flag once raised (the test is
``invalid``). Measured: 30 hourly checks of an honest split flag far fewer than 2 % of tests, and the
rate does not grow with the number of checks (the plain χ² with p < 0.001 at every check grows
slowly with the number of looks; both are reported, only the sequential one decides). The classic
p-value is still returned for display next to the observed and planned shares.

Arms planned at 0 % must stay empty: one unit there is an SRM by itself (p = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._lazy import lazy_module
from .sequential import rho_squared

if TYPE_CHECKING:
    import numpy as np
    from scipy import special
else:
    np = lazy_module("numpy")
    special = lazy_module("scipy.special")

__all__ = [
    "SrmResult",
    "chi2_statistic",
    "sequential_p_value",
    "srm_check",
    "DEFAULT_SRM_THRESHOLD",
    "DEFAULT_SRM_TUNING_N",
]

DEFAULT_SRM_THRESHOLD = 0.001
DEFAULT_SRM_TUNING_N = 5_000


def _planned(planned, k: int) -> np.ndarray:
    p = np.asarray(planned, dtype=float)
    if p.shape[-1] != k:
        raise ValueError(f"observed has {k} arms but planned has {p.shape[-1]}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p.sum(axis=-1) <= 0):
        raise ValueError("planned shares must be finite, >= 0, with a positive sum")
    return p / p.sum(axis=-1, keepdims=True)


def chi2_statistic(observed, planned):
    """Pearson X², df and the one-look p-value; arrays over leading axes, arms on the last axis.

    Arms with a zero planned share are left out of X² and df; if any of them has units, X² = inf and
    p = 0. With no units at all, X² = 0 and p = 1.
    """
    o = np.asarray(observed, dtype=float)
    if np.any(o < 0) or not np.all(np.isfinite(o)):
        raise ValueError("observed counts must be finite and >= 0")
    pi = _planned(planned, o.shape[-1])
    n = o.sum(axis=-1, keepdims=True)
    live = pi > 0
    e = n * pi
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(live, (o - e) ** 2 / np.where(live, e, 1.0), 0.0)
    x2 = np.where(n[..., 0] > 0, terms.sum(axis=-1), 0.0)
    leaked = np.any(~live & (o > 0), axis=-1)
    x2 = np.where(leaked, np.inf, x2)
    df = np.broadcast_to(live.sum(axis=-1) - 1, x2.shape)
    p = np.where(df > 0, special.chdtrc(np.maximum(df, 1), x2), 1.0)
    p = np.where(leaked, 0.0, p)
    return x2, df, p


def sequential_p_value(observed, planned, *, alpha=DEFAULT_SRM_THRESHOLD, tuning_n=DEFAULT_SRM_TUNING_N):
    """Always-valid SRM p-value min(1, 1/M_N) (module docstring); ``alpha`` only sets ρ."""
    x2, df, _ = chi2_statistic(observed, planned)
    return _sequential(x2, df, np.asarray(observed, dtype=float).sum(axis=-1), alpha, tuning_n)


def _sequential(x2, df, n, alpha, tuning_n):
    r2 = rho_squared(alpha, tuning_n)
    a = n * r2 + 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        log_m = r2 * n * x2 / (2.0 * a) - 0.5 * df * np.log(a)
        p = np.exp(-np.maximum(np.nan_to_num(log_m, nan=0.0, posinf=np.inf), 0.0))
    return np.where(df > 0, p, 1.0)


@dataclass(frozen=True, slots=True)
class SrmResult:
    flagged: bool
    p_value: float  # always-valid p-value; the decision uses it (p < threshold)
    chi2: float
    df: int
    chi2_p_value: float  # one-look Pearson p-value, for display
    observed_shares: tuple[float, ...]
    planned_shares: tuple[float, ...]
    threshold: float


def srm_check(
    observed: Sequence[int],
    planned: Sequence[float],
    *,
    threshold: float = DEFAULT_SRM_THRESHOLD,
    tuning_n: float = DEFAULT_SRM_TUNING_N,
) -> SrmResult:
    """SRM verdict for one test: flagged when the always-valid p-value is below ``threshold``."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    o = np.asarray(observed, dtype=float)
    if o.ndim != 1 or o.size < 2:
        raise ValueError("observed needs one count per arm (at least 2 arms)")
    x2, df, p1 = chi2_statistic(o, planned)
    p_seq = float(_sequential(x2, df, o.sum(), threshold, tuning_n))
    n = o.sum()
    shares = tuple(float(v) for v in (o / n if n > 0 else np.zeros_like(o)))
    return SrmResult(
        p_seq < threshold,
        p_seq,
        float(x2),
        int(df),
        float(p1),
        shares,
        tuple(float(v) for v in _planned(planned, o.size)),
        threshold,
    )
