"""Always-valid A/B statistics over per-arm sufficient statistics (pure numpy, no database).

Formula: the asymptotic confidence sequence (CS) of Waudby-Smith, Arnold, Wu, Howard & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences" (Annals of Statistics, 2024;
arXiv:2103.06476), eq. 9, with the mixing parameter ρ of its eq. 161, as GrowthBook's ``gbstats``
sequential two-sided t-test uses it for the difference treatment − control:

    ρ²    = (−2 ln α + ln(1 − 2 ln α)) / N_tune             (N_tune: tuning sample size, 5,000)
    SE²   = s²_T / n_T + s²_C / n_C                          (variance of the estimated difference)
    N     = n_T + n_C,   s² = SE² · N                        (per-observation variance)
    half  = √s² · √( 2(Nρ² + 1) · ln(√(Nρ² + 1) / α) / (N²ρ²) )
    CS    = [Δ̂ − half, Δ̂ + half]

The matching always-valid p-value (eq. 155 reparameterised as in gbstats) is
``p = min(1, √(Nρ²+1) · exp(−ρ² N z² / (2(Nρ²+1))))`` with ``z = (Δ̂ − δ₀)/SE``; ``p < α`` exactly
when the CS excludes δ₀. Because the coverage holds uniformly over time (asymptotically, by the CLT),
the results may be looked at after every window and a decision may be taken at the first look where
the CS excludes 0: the chance that an A/A test *ever* declares a winner stays near α.

Variances: proportions use p̂(1 − p̂) (as gbstats); means use the unbiased sample variance
(Q − S²/n)/(n − 1) from the sums, clipped at 0. The relative effect (Δ̂ / |μ̂_C|) uses the delta
method, Var ≈ s²_T/(n_T μ̂²_C) + μ̂²_T s²_C/(n_C μ̂⁴_C) (gbstats ``frequentist_variance``, relative).
Several treatments share α by Bonferroni: each treatment-vs-control CS uses α / (number of treatments).

Every numeric function broadcasts over numpy arrays, so simulations evaluate thousands of tests at
once; the dataclass functions (``confidence_sequence``, ``decide``, ``guardrail``) call the same code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from .._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


__all__ = [
    "ArmStats",
    "merge",
    "State",
    "SequenceInterval",
    "Decision",
    "GuardrailResult",
    "rho_squared",
    "cs_half_width",
    "always_valid_p_value",
    "difference_cs",
    "enough_data",
    "decision_codes",
    "confidence_sequence",
    "decide",
    "evaluate",
    "guardrail",
    "DEFAULT_ALPHA",
    "DEFAULT_TUNING_N",
    "DEFAULT_MIN_UNITS",
    "DEFAULT_MIN_EVENTS",
]

MetricType = Literal["proportion", "mean"]
Direction = Literal["higher", "lower"]

DEFAULT_ALPHA = 0.05
DEFAULT_TUNING_N = 5_000
DEFAULT_MIN_UNITS = 1_000
DEFAULT_MIN_EVENTS = 30


# ------------------------------------------------------------------------------ sufficient statistics
@dataclass(frozen=True, slots=True)
class ArmStats:
    """Mergeable sufficient statistics of one arm; the unit of analysis is the unit.

    ``n`` units, ``sum`` = Σy, ``sum_sq`` = Σy² over the units' (summed) outcomes, and ``events``:
    for a proportion, the successes (then ``sum`` = ``sum_sq`` = ``events``); for a mean, the number of
    units whose outcome is non-zero (purchases for revenue, errors for an error count). ``events``
    gates decisions (``min_events``): a mean of mostly zeros is only near-normal once enough
    non-zero outcomes exist.

    Merging adds the fields: counts merge exactly, the float sums associatively up to rounding
    (relative error ~1e-15 per addition). The variance from sums, (Q − S²/n)/(n − 1), loses digits
    when |mean| ≫ sd (about log10(mean²/var) of 16 digits); outcomes of A/B metrics (rates, revenue,
    latency in ms) are far from that limit.
    """

    n: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    events: int = 0

    def __post_init__(self) -> None:
        if self.n < 0 or self.events < 0 or self.events > self.n:
            raise ValueError(f"need 0 <= events <= n, got n={self.n}, events={self.events}")
        if not (math.isfinite(self.sum) and math.isfinite(self.sum_sq)) or self.sum_sq < 0:
            raise ValueError("sum and sum_sq must be finite, sum_sq >= 0")

    @classmethod
    def from_proportion(cls, n: int, successes: int) -> ArmStats:
        """A binary metric: ``successes`` of ``n`` units (0 <= successes <= n)."""
        if not 0 <= successes <= n:
            raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
        return cls(int(n), float(successes), float(successes), int(successes))

    @classmethod
    def from_values(cls, values: Iterable[float] | np.ndarray) -> ArmStats:
        """Per-unit outcomes (one value per unit, already summed over the unit's outcomes)."""
        y = np.asarray(values, dtype=float).ravel()
        if not np.all(np.isfinite(y)):
            raise ValueError("outcomes must be finite")
        return cls(int(y.size), float(y.sum()), float(np.dot(y, y)), int(np.count_nonzero(y)))

    def merge(self, other: ArmStats) -> ArmStats:
        return ArmStats(
            self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq, self.events + other.events
        )

    __add__ = merge

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else float("nan")

    def variance(self, metric_type: MetricType) -> float:
        return float(arm_variance(self.n, self.sum, self.sum_sq, metric_type))


def merge(stats: Iterable[ArmStats]) -> ArmStats:
    """Sum of many windows' statistics (``ArmStats()`` when empty)."""
    out = ArmStats()
    for s in stats:
        out = out.merge(s)
    return out


def arm_variance(n, s, q, metric_type: MetricType):
    """Per-observation variance: p̂(1 − p̂) for proportions, (Q − S²/n)/(n − 1) for means (>= 0)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.asarray(s, dtype=float) / n
        if metric_type == "proportion":
            var = mean * (1.0 - mean)
        elif metric_type == "mean":
            var = (np.asarray(q, dtype=float) - np.asarray(s, dtype=float) * mean) / (n - 1.0)
        else:
            raise ValueError(f"metric_type must be 'proportion' or 'mean', got {metric_type!r}")
    return np.maximum(var, 0.0)


# ------------------------------------------------------------------------------ the formula
def rho_squared(alpha, tuning_n=DEFAULT_TUNING_N):
    """ρ² = (−2 ln α + ln(1 − 2 ln α)) / N_tune (Waudby-Smith et al. eq. 161; gbstats ``sequential_rho``²).

    This ρ makes the CS tightest at N = N_tune total units; it is valid for every N.
    """
    la = np.log(alpha)
    return (-2.0 * la + np.log(1.0 - 2.0 * la)) / tuning_n


def cs_half_width(s2, n_total, alpha, tuning_n=DEFAULT_TUNING_N):
    """Half-width of the asymptotic CS, Waudby-Smith et al. eq. 9 (two-sided, level 1 − α).

    ``s2`` is the per-observation variance of the difference (SE² · N), ``n_total`` = N = n_T + n_C.
    """
    r2 = rho_squared(alpha, tuning_n)
    n = np.asarray(n_total, dtype=float)
    a = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(s2) * np.sqrt(2.0 * a * np.log(np.sqrt(a) / alpha) / (n * n * r2))


def always_valid_p_value(effect, std_error, n_total, alpha, tuning_n=DEFAULT_TUNING_N, null=0.0):
    """Always-valid p-value of H₀: Δ = ``null`` (gbstats eq. 155 form): min(1, 1/e-value).

    e = exp(ρ² N z² / (2(Nρ² + 1))) / √(Nρ² + 1), z = (Δ̂ − δ₀)/SE. ``alpha`` only sets ρ (N_tune).
    """
    r2 = rho_squared(alpha, tuning_n)
    n = np.asarray(n_total, dtype=float)
    a = n * r2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z2 = (np.asarray(effect, dtype=float) - null) ** 2 / np.asarray(std_error, dtype=float) ** 2
        log_e = r2 * n * z2 / (2.0 * a) - 0.5 * np.log(a)
        p = np.exp(-np.maximum(log_e, 0.0))
    return np.where(np.isnan(p), 1.0, p)


def difference_cs(
    n_c,
    s_c,
    q_c,
    n_t,
    s_t,
    q_t,
    *,
    metric_type: MetricType,
    alpha=DEFAULT_ALPHA,
    n_treatments=1,
    tuning_n=DEFAULT_TUNING_N,
    relative=False,
):
    """Vectorised CS of treatment − control from sums: returns ``(effect, lower, upper, std_error)``.

    ``alpha`` is the family level; each treatment uses α / ``n_treatments`` (Bonferroni). With
    ``relative`` the effect is (μ̂_T − μ̂_C)/|μ̂_C| with the delta-method variance. Where the CS is
    undefined (an arm with n < 2, or μ̂_C = 0 for relative) the bounds are −inf/+inf.
    """
    n_c = np.asarray(n_c, dtype=float)
    n_t = np.asarray(n_t, dtype=float)
    a = alpha / n_treatments
    with np.errstate(divide="ignore", invalid="ignore"):
        m_c = np.asarray(s_c, dtype=float) / n_c
        m_t = np.asarray(s_t, dtype=float) / n_t
        v_c = arm_variance(n_c, s_c, q_c, metric_type)
        v_t = arm_variance(n_t, s_t, q_t, metric_type)
        if relative:
            effect = (m_t - m_c) / np.abs(m_c)
            se2 = v_t / (n_t * m_c**2) + m_t**2 * v_c / (n_c * m_c**4)
        else:
            effect = m_t - m_c
            se2 = v_t / n_t + v_c / n_c
        n_total = n_c + n_t
        half = cs_half_width(se2 * n_total, n_total, a, tuning_n)
    bad = (n_c < 2) | (n_t < 2) | ~np.isfinite(effect) | ~np.isfinite(half)
    lower = np.where(bad, -np.inf, effect - half)
    upper = np.where(bad, np.inf, effect + half)
    return effect, lower, upper, np.sqrt(se2)


def enough_data(n_c, e_c, n_t, e_t, min_units=DEFAULT_MIN_UNITS, min_events=DEFAULT_MIN_EVENTS):
    """The minimum sample: both arms have >= ``min_units`` units and >= ``min_events`` events."""
    return (
        (np.asarray(n_c) >= min_units)
        & (np.asarray(n_t) >= min_units)
        & (np.asarray(e_c) >= min_events)
        & (np.asarray(e_t) >= min_events)
    )


# Integer codes of ``decision_codes`` (vectorised form of ``State``).
RUNNING, BETTER, WORSE = 0, 1, -1


def decision_codes(lower, upper, enough, direction: Direction = "higher"):
    """+1 treatment better, −1 worse, 0 no decision: the CS excludes 0 and the minimum sample is met."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    lower = np.asarray(lower)
    upper = np.asarray(upper)
    up = enough & (lower > 0)
    down = enough & (upper < 0)
    sign = 1 if direction == "higher" else -1
    return np.where(up, sign * BETTER, np.where(down, sign * WORSE, RUNNING)).astype(np.int8)


# ------------------------------------------------------------------------------ scalar API
class State(StrEnum):
    RUNNING = "running"
    TREATMENT_BETTER = "treatment_better"
    TREATMENT_WORSE = "treatment_worse"
    INCONCLUSIVE = "inconclusive"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class SequenceInterval:
    """The CS at the current look (absolute difference, or relative when ``relative``)."""

    effect: float
    lower: float
    upper: float
    std_error: float
    n_total: int
    alpha: float  # level used for this comparison (after the Bonferroni split)
    tuning_n: float
    p_value: float  # always-valid p-value of "no difference"
    relative: bool = False

    @property
    def half_width(self) -> float:
        return (self.upper - self.lower) / 2.0


@dataclass(frozen=True, slots=True)
class Decision:
    state: State
    interval: SequenceInterval
    enough_data: bool
    reason: str


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    violated: bool
    interval: SequenceInterval
    margin: float
    enough_data: bool
    reason: str


def _check_common(alpha: float, n_treatments: int, tuning_n: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if n_treatments < 1:
        raise ValueError(f"n_treatments must be >= 1, got {n_treatments!r}")
    if not tuning_n > 0:
        raise ValueError(f"tuning_n must be > 0, got {tuning_n!r}")


def confidence_sequence(
    control: ArmStats,
    treatment: ArmStats,
    *,
    metric_type: MetricType,
    alpha: float = DEFAULT_ALPHA,
    n_treatments: int = 1,
    tuning_n: float = DEFAULT_TUNING_N,
    relative: bool = False,
) -> SequenceInterval:
    """Current interval of the asymptotic CS (module docstring) for treatment − control."""
    _check_common(alpha, n_treatments, tuning_n)
    if metric_type == "proportion":
        for arm in (control, treatment):
            if not 0 <= arm.sum <= arm.n:
                raise ValueError(f"a proportion needs 0 <= successes <= n, got {arm.sum} of {arm.n}")
    e, lo, hi, se = difference_cs(
        control.n,
        control.sum,
        control.sum_sq,
        treatment.n,
        treatment.sum,
        treatment.sum_sq,
        metric_type=metric_type,
        alpha=alpha,
        n_treatments=n_treatments,
        tuning_n=tuning_n,
        relative=relative,
    )
    a = alpha / n_treatments
    n_total = control.n + treatment.n
    p = always_valid_p_value(e, se, n_total, a, tuning_n) if np.isfinite(lo) else 1.0
    return SequenceInterval(
        float(e), float(lo), float(hi), float(se), n_total, a, float(tuning_n), float(p), relative
    )


def decide(
    control: ArmStats,
    treatment: ArmStats,
    *,
    metric_type: MetricType,
    direction: Direction = "higher",
    alpha: float = DEFAULT_ALPHA,
    n_treatments: int = 1,
    tuning_n: float = DEFAULT_TUNING_N,
    min_units: int = DEFAULT_MIN_UNITS,
    min_events: int = DEFAULT_MIN_EVENTS,
    relative: bool = False,
    stopped: bool = False,
    srm_flagged: bool = False,
) -> Decision:
    """State of one treatment against control at the current look.

    ``invalid`` when the SRM check flagged the test (nothing can be trusted); no decision before the
    minimum sample (``enough_data``); then ``treatment_better`` / ``treatment_worse`` when the CS
    excludes 0 on the good / bad side for ``direction``; otherwise ``running``, or ``inconclusive``
    once the test is ``stopped``. The server should keep the first decision it reaches (the CS is
    valid at any stopping time), rather than re-deciding on later looks.
    """
    iv = confidence_sequence(
        control,
        treatment,
        metric_type=metric_type,
        alpha=alpha,
        n_treatments=n_treatments,
        tuning_n=tuning_n,
        relative=relative,
    )
    ok = bool(enough_data(control.n, control.events, treatment.n, treatment.events, min_units, min_events))
    if srm_flagged:
        return Decision(State.INVALID, iv, ok, "sample ratio mismatch: the assignment is broken")
    code = int(decision_codes(iv.lower, iv.upper, ok, direction))
    if code == BETTER:
        return Decision(
            State.TREATMENT_BETTER, iv, ok, "the interval excludes no difference, on the better side"
        )
    if code == WORSE:
        return Decision(
            State.TREATMENT_WORSE, iv, ok, "the interval excludes no difference, on the worse side"
        )
    if not ok:
        reason = f"waiting for {min_units} units and {min_events} events per arm"
    else:
        reason = "the interval still contains no difference"
    return Decision(State.INCONCLUSIVE if stopped else State.RUNNING, iv, ok, reason)


def evaluate(arms: Sequence[ArmStats], **kwargs) -> list[Decision]:
    """``decide`` for every treatment (``arms[1:]``) against ``arms[0]``, α split across them."""
    if len(arms) < 2:
        raise ValueError("need a control and at least one treatment")
    return [decide(arms[0], t, n_treatments=len(arms) - 1, **kwargs) for t in arms[1:]]


def guardrail(
    control: ArmStats,
    treatment: ArmStats,
    *,
    metric_type: MetricType,
    direction: Direction,
    margin: float = 0.0,
    alpha: float = DEFAULT_ALPHA,
    n_treatments: int = 1,
    tuning_n: float = DEFAULT_TUNING_N,
    min_units: int = DEFAULT_MIN_UNITS,
    min_events: int = DEFAULT_MIN_EVENTS,
    relative: bool = False,
) -> GuardrailResult:
    """Non-inferiority guardrail: violated when the CS excludes "no worse than ``margin``".

    ``margin`` >= 0 is in the metric's units (or a fraction of the control mean when ``relative``).
    Higher is better: violated when upper < −margin. Lower is better (latency, errors): violated
    when lower > +margin. Never violated before the minimum sample.
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be finite and >= 0, got {margin!r}")
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    iv = confidence_sequence(
        control,
        treatment,
        metric_type=metric_type,
        alpha=alpha,
        n_treatments=n_treatments,
        tuning_n=tuning_n,
        relative=relative,
    )
    ok = bool(enough_data(control.n, control.events, treatment.n, treatment.events, min_units, min_events))
    worse = iv.upper < -margin if direction == "higher" else iv.lower > margin
    violated = ok and bool(worse)
    if violated:
        reason = "the interval excludes 'no worse than the margin'"
    elif not ok:
        reason = f"waiting for {min_units} units and {min_events} events per arm"
    else:
        reason = "not shown to be worse than the margin"
    return GuardrailResult(violated, iv, float(margin), ok, reason)
