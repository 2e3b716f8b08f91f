"""Drift statistics on binned counts: counts in, numbers out.

Every function takes bucket counts with the buckets on the **last axis** and broadcasts over any
leading axes (one row per window), so a history or a simulation is one call. ``reference`` and
``current`` are raw counts; shares are computed here. An all-zero row gives NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
    from scipy import special  # scipy.special, not scipy.stats: the server starts seconds faster

    Floats = NDArray[np.float64]
else:
    np = lazy_module("numpy")
    special = lazy_module("scipy.special")


EPSILON = 1e-4


def shares(counts: ArrayLike) -> Floats:
    """Counts divided by their total along the last axis (NaN where the total is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _shares(counts)


def _shares(counts: ArrayLike) -> Floats:
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    return np.where(total > 0, c / np.where(total > 0, total, 1.0), np.nan)


# The public functions enter ``np.errstate`` once each; the ``_``-prefixed kernels do not, so a batch
# (``columns.compare_columns``: every column of many windows, stacked by bucket count) enters it once.


def psi(reference: ArrayLike, current: ArrayLike, eps: float = EPSILON) -> Floats:
    """Population Stability Index, sum_i (q_i - p_i) * ln(q_i / p_i), p = reference shares,
    q = current shares.

    Empty buckets are smoothed as Evidently does (``evidently.legacy.calculations.stattests.psi``,
    via ``get_binned_data``): a share of exactly 0, on either side, is replaced by ``eps`` = 1e-4
    before the sum (Evidently switches to min_nonzero/1e6 when a share is <= 1e-4; we keep ε fixed
    so the statistic depends on the counts only). A bucket empty on both sides contributes 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _psi(reference, current, eps)


def _psi(reference: ArrayLike, current: ArrayLike, eps: float = EPSILON) -> Floats:
    p, q = _shares(reference), _shares(current)
    p, q = np.where(p == 0, eps, p), np.where(q == 0, eps, q)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def psi_noise_floor(buckets: ArrayLike, n: ArrayLike, m: ArrayLike, quantile: float = 0.99) -> Floats:
    """No-drift noise floor of PSI: chi2_q(B - 1) * (1/n + 1/m).

    Under no drift, PSI ~ (1/n + 1/m) * chi2(B - 1) asymptotically (PSI is a symmetrised KL, and
    2n*KL is Pearson's chi2 to second order; see the Population Resemblance Statistic, Potgieter et
    al., arXiv 2307.11878). ``buckets`` = B, the buckets with positive reference probability;
    ``n`` the current and ``m`` the reference total. B <= 1 gives a floor of 0.
    """
    with np.errstate(divide="ignore"):
        return _psi_noise_floor(buckets, n, m, quantile)


def _psi_noise_floor(buckets: ArrayLike, n: ArrayLike, m: ArrayLike, quantile: float = 0.99) -> Floats:
    b = np.asarray(buckets, dtype=np.float64)
    scale = 1.0 / np.asarray(n, dtype=np.float64) + 1.0 / np.asarray(m, dtype=np.float64)
    if b.ndim == 1 and b.size > 16:  # many columns, few distinct B: the quantile once per B
        distinct, at = np.unique(b, return_inverse=True)
        q = special.chdtri(np.maximum(distinct - 1, 1), 1.0 - quantile)[at.reshape(b.shape)]
    else:
        q = special.chdtri(np.maximum(b - 1, 1), 1.0 - quantile)
    return np.where(b > 1, q, 0.0) * scale


def js_distance(reference: ArrayLike, current: ArrayLike) -> Floats:
    """Jensen–Shannon distance in base 2 (0..1): sqrt((KL(p||m) + KL(q||m)) / 2), m = (p + q)/2,
    with 0·log 0 = 0 and no smoothing; equals ``scipy.spatial.distance.jensenshannon(p, q, base=2)``
    (NannyML's default drift method uses the same base)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _js_distance(reference, current)


def _js_distance(reference: ArrayLike, current: ArrayLike) -> Floats:
    p, q = _shares(reference), _shares(current)
    mid = (p + q) / 2

    def kl(a: Floats) -> Floats:
        return np.sum(np.where(a > 0, a * np.log2(a / np.where(mid > 0, mid, 1.0)), 0.0), axis=-1)

    return np.sqrt(np.maximum((kl(p) + kl(q)) / 2, 0.0))


def ks_binned(reference: ArrayLike, current: ArrayLike) -> Floats:
    """Binned Kolmogorov–Smirnov statistic: D = max_k |F_ref(k) - F_cur(k)| over the bucket
    boundaries of **ordered** buckets (the empirical CDFs evaluated at the bin edges, as NannyML and
    whylogs do from histograms). It is a lower bound of the exact two-sample D."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _ks_binned(reference, current)


def _ks_binned(reference: ArrayLike, current: ArrayLike) -> Floats:
    f, g = np.cumsum(_shares(reference), axis=-1), np.cumsum(_shares(current), axis=-1)
    return np.max(np.abs(f - g), axis=-1)


def linf_distance(reference: ArrayLike, current: ArrayLike) -> Floats:
    """L-infinity distance of the shares, max_i |p_i - q_i| (SageMaker and Vertex AI use it for
    categorical drift): the categorical stand-in for KS, whose CDF would depend on the bucket order."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _linf_distance(reference, current)


def _linf_distance(reference: ArrayLike, current: ArrayLike) -> Floats:
    return np.max(np.abs(_shares(reference) - _shares(current)), axis=-1)


def wasserstein_binned(
    reference: ArrayLike, current: ArrayLike, midpoints: ArrayLike, scale: ArrayLike
) -> Floats:
    """Wasserstein-1 distance between the two histograms placed at the bucket midpoints, divided by
    ``scale`` (the reference standard deviation: Evidently's ``wasserstein_distance_norm``).

    W1 = sum_k |F_ref(k) - F_cur(k)| * (x_(k+1) - x_k) for sorted midpoints x (the CDF form of
    ``scipy.stats.wasserstein_distance`` with weights). ``midpoints`` must be non-decreasing.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _wasserstein_binned(reference, current, midpoints, scale)


def _wasserstein_binned(
    reference: ArrayLike, current: ArrayLike, midpoints: ArrayLike, scale: ArrayLike
) -> Floats:
    x = np.asarray(midpoints, dtype=np.float64)
    f, g = np.cumsum(_shares(reference), axis=-1), np.cumsum(_shares(current), axis=-1)
    w = np.sum(np.abs(f - g)[..., :-1] * np.diff(x, axis=-1), axis=-1)
    return w / np.asarray(scale, dtype=np.float64)
