"""Model-decay rules over a history of windows: per-window values in, per-window verdicts out.

Windows are on the **last axis** (oldest first); leading axes broadcast, so a simulation of many
histories is one call. A NaN value (a window without labels) is never "worse" and breaks a run of
consecutive bad windows; it is skipped in the z-score history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    Bools = NDArray[np.bool_]
else:
    np = lazy_module("numpy")


@dataclass(frozen=True)
class DecayThresholds:
    """The monitoring issue's defaults."""

    abs_tolerance: float = 0.02
    rel_tolerance: float = 0.05
    consecutive: int = 2
    confidence: float = 0.95  # of the one-sided bound fed to decay_alerts
    z: float = 3.0
    z_min_history: int = 10
    z_window: int = 30

    def __post_init__(self) -> None:
        if self.consecutive < 1 or self.z_min_history < 2 or self.z_window < self.z_min_history:
            raise ValueError("consecutive >= 1 and 2 <= z_min_history <= z_window are required")


def tolerance(baseline: float, t: DecayThresholds = DecayThresholds()) -> float:
    """max(abs_tolerance, rel_tolerance·|baseline|)."""
    return max(t.abs_tolerance, t.rel_tolerance * abs(baseline))


def decay_alerts(
    bounds: ArrayLike, baseline: float, higher_is_better: bool, t: DecayThresholds = DecayThresholds()
) -> Bools:
    """Decay alert per window: the favourable-end bound is worse than ``baseline`` by more than
    ``tolerance(baseline)`` in this window and the ``consecutive - 1`` before it.

    ``bounds``: per-window favourable ends of the one-sided bound (``performance.metric_estimate``'s
    ``bound``): the upper bound for a higher-is-better metric, the lower bound for an error. A
    threshold rule with a tolerance and a run length, in the style of W&B's RUN_METRIC_THRESHOLD
    and SageMaker Model Monitor's constraint checks on a baseline.
    """
    b = np.asarray(bounds, dtype=np.float64)
    tol = tolerance(baseline, t)
    with np.errstate(invalid="ignore"):
        worse = b < baseline - tol if higher_is_better else b > baseline + tol
    out = worse.copy()
    for k in range(1, t.consecutive):
        out[..., k:] &= worse[..., :-k]
        out[..., :k] = False
    return out


def zscore_warnings(
    values: ArrayLike, higher_is_better: bool, t: DecayThresholds = DecayThresholds()
) -> Bools:
    """Warning per window (W&B's RUN_METRIC_ZSCORE, window 30): with at least ``z_min_history``
    earlier windows, the value is more than ``z`` sample standard deviations (ddof = 1) of the last
    ``z_window`` earlier values worse than their mean, in the metric's bad direction. With a zero
    standard deviation any worse value warns."""
    v = np.asarray(values, dtype=np.float64)
    w = t.z_window
    pad = np.full((*v.shape[:-1], w), np.nan)
    hist = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, v], axis=-1), w, axis=-1)[
        ..., :-1, :
    ]
    count = np.sum(~np.isnan(hist), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.nansum(hist, axis=-1) / np.maximum(count, 1), np.nan)
        sq = np.nansum((hist - mean[..., None]) ** 2, axis=-1)
        sd = np.sqrt(sq / np.maximum(count - 1, 1))
        gap = mean - v if higher_is_better else v - mean
        hit = (gap > t.z * sd) & (gap > 0)
    return hit & (count >= t.z_min_history) & ~np.isnan(v)


def evaluate_history(
    values: Sequence[float],
    bounds: Sequence[float],
    baseline: float,
    higher_is_better: bool,
    t: DecayThresholds = DecayThresholds(),
) -> list[dict[str, Any]]:
    """Per window of a history (oldest first): ``{"value", "bound", "decay_alert", "zscore_warning",
    "status"}`` with status ``alert`` (decay rule), ``warn`` (z-score rule) or ``ok``. ``values``
    and ``bounds`` come from ``performance.metric_estimate`` (NaN for windows without labels)."""
    if len(values) != len(bounds):
        raise ValueError("values and bounds must have one entry per window")
    alerts = decay_alerts(bounds, baseline, higher_is_better, t)
    warns = zscore_warnings(values, higher_is_better, t)
    return [
        {
            "value": float(v),
            "bound": float(b),
            "decay_alert": bool(a),
            "zscore_warning": bool(w),
            "status": "alert" if a else "warn" if w else "ok",
        }
        for v, b, a, w in zip(values, bounds, alerts.tolist(), warns.tolist(), strict=True)
    ]
