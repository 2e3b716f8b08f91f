"""Per-column drift of a ``tether.window/1`` column summary against its ``tether.profile/1``
reference column, the column status rules and the dataset-level verdicts.

Buckets (what "B" counts)
-------------------------
Numeric column, in this order::

    [below, bin_0 .. bin_9, above, missing, invalid]

``below``/``above`` are the out-of-range buckets (x < reference min, x > reference max; the
reference has 0 there by construction), ``bin_i`` the reference decile bins (bin 0 closed at the
reference min, bin 9 at the reference max), ``missing`` = nulls + NaN (the profile counts NaN as
null, so they are compared as one bucket) and ``invalid`` = non-numeric values (reference 0).
Categorical column: ``[top_1 .. top_k, other, missing]``.

PSI and JS use every bucket above (so a shift in missingness, out-of-range values or type changes
moves PSI); an empty bucket is ε-smoothed (``drift.psi``), a bucket empty on both sides adds 0. For
the noise floor, **B = the number of buckets with a positive reference count** (normally the 10
deciles, plus ``missing`` when the reference has nulls, plus ``other`` for categorical columns that
have one; fewer deciles when duplicate edges leave some empty): only those carry probability under
no drift, so the floor's χ²(B − 1) has the right degrees of freedom. KS and Wasserstein use only the
ordered value buckets ``[below, bin_0 .. bin_9, above]`` (missing values have no position);
categorical columns report the L-infinity distance as ``ks`` and no Wasserstein.

Wasserstein midpoints: inner bins (e_i + e_(i+1))/2. The open outer decile bins [min, e_1) and
[e_9, max] get the midpoint of the bin closed at the reference min/max, but no further out than
half the neighbouring inner bin's width: max((min + e_1)/2, e_1 - (e_2 - e_1)/2) and
min((e_9 + max)/2, e_9 + (e_9 - e_8)/2). Closing them at min/max alone puts a tail bin's mass at a
rare extreme (for a normal feature, -2.8σ instead of its conditional mean -1.75σ) and inflates W1 by
~40 %; the capped midpoint (-1.5σ) stays close. ``below`` sits at
(window min + reference min)/2 and ``above`` at (reference max + window max)/2 (window min/max come
from the summary; the reference has no mass there). The scale is the reference standard deviation
sqrt(M2/(count - 1)), floored at 0.001 as Evidently does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_module
from . import drift

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

STATUSES = ("ok", "warn", "alert")


@dataclass(frozen=True)
class DriftThresholds:
    """Every drift threshold; the defaults are the monitoring issue's."""

    psi_warn: float = 0.1
    psi_alert: float = 0.2
    min_rows: int = 500  # PSI and null-rate rules need at least this many window rows
    noise_quantile: float = 0.99  # the no-drift floor is this quantile of chi2(B-1)*(1/n+1/m)
    epsilon: float = 1e-4  # PSI smoothing of empty buckets
    unseen_warn: float = 0.01  # share of never-seen categories (reference `other` == 0)
    unseen_alert: float = 0.05
    invalid_warn: float = 0.01  # share of values of the wrong type in a numeric column
    invalid_alert: float = 0.05
    null_rise_alert: float = 0.05  # rise of the missing share, in absolute points (0.05 = 5 points)
    dataset_share: float = 0.5  # dataset drift: share of monitored columns drifted
    importance_share: float = 0.5  # importance-weighted dataset drift

    def __post_init__(self) -> None:
        if not 0 <= self.psi_warn <= self.psi_alert:
            raise ValueError("psi_warn must be between 0 and psi_alert")
        if not 0 < self.noise_quantile < 1 or self.epsilon <= 0 or self.min_rows < 0:
            raise ValueError("noise_quantile must be in (0, 1), epsilon > 0 and min_rows >= 0")
        if not (0 <= self.unseen_warn <= self.unseen_alert and 0 <= self.invalid_warn <= self.invalid_alert):
            raise ValueError("each warn threshold must be between 0 and its alert threshold")
        if not (0 < self.dataset_share <= 1 and 0 < self.importance_share <= 1 and self.null_rise_alert >= 0):
            raise ValueError("dataset_share and importance_share must be in (0, 1], null_rise_alert >= 0")


@dataclass
class ColumnDrift:
    column: str
    kind: str
    n: int  # window rows
    m: int  # reference rows
    psi: float
    noise_floor: float
    buckets: int  # B of the noise floor
    js: float
    ks: float
    wasserstein: float | None
    null_share_change: float
    unseen_share: float | None  # only when the reference listed all its categories
    other_share_change: float | None  # otherwise (categorical)
    out_of_range_share: float | None  # numeric
    invalid_share: float | None  # numeric
    missing: bool  # the column is absent from every window row
    insufficient_data: bool  # n < min_rows: PSI and null-rate rules are not evaluated
    status: str = "ok"
    drifted: bool = False  # a distribution rule (psi, unseen) is at alert
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN/inf (e.g. statistics of an empty window) become ``None``."""
        return {
            k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()
        }


def _share(part: float, total: float) -> float:
    return part / total if total else 0.0


def _level(value: float, warn: float, alert: float) -> str | None:
    return "alert" if value >= alert else "warn" if value >= warn else None


def psi_levels(psi: Any, floor: Any, n: Any, t: DriftThresholds) -> np.ndarray:
    """Vectorised PSI rule: 0 ok, 1 warn, 2 alert. Flagged only when PSI > noise floor and
    n >= min_rows; then alert at PSI >= psi_alert, warn at PSI >= psi_warn."""
    p = np.asarray(psi, dtype=np.float64)
    gate = (p > np.asarray(floor)) & (np.asarray(n) >= t.min_rows)
    return np.where(gate & (p >= t.psi_alert), 2, np.where(gate & (p >= t.psi_warn), 1, 0))


def _numeric_buckets(ref: Mapping[str, Any], win: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    r = [0, *ref["bin_counts"], 0, ref.get("nulls", 0) + ref.get("nan", 0), 0]
    w = [win["below"], *win["counts"], win["above"], win["nulls"] + win["nan"], win["invalid"]]
    return r, w


def _midpoints(ref: Mapping[str, Any], win: Mapping[str, Any]) -> list[float]:
    return _window_midpoints(_ref_midpoints(ref), win)


def _ref_midpoints(ref: Mapping[str, Any]) -> tuple[float, float, list[float]]:
    """(reference min, max, the decile bins' midpoints): the part of the midpoints that depends on
    the reference only (computed once per reference column in a batch)."""
    lo, hi = float(ref["min"]), float(ref["max"])
    edges = [float(x) for x in ref["bin_edges"]]
    inner = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    first = (lo + edges[0]) / 2
    last = (edges[-1] + hi) / 2
    if len(edges) > 1 and edges[1] > edges[0]:  # no further out than half the neighbouring bin's width
        first = max(first, edges[0] - (edges[1] - edges[0]) / 2)
    if len(edges) > 1 and edges[-1] > edges[-2]:
        last = min(last, edges[-1] + (edges[-1] - edges[-2]) / 2)
    return lo, hi, [first, *inner, last]


def _window_midpoints(ref_part: tuple[float, float, list[float]], win: Mapping[str, Any]) -> list[float]:
    lo, hi, inner = ref_part
    wlo = lo if win.get("min") is None else min(float(win["min"]), lo)
    whi = hi if win.get("max") is None else max(float(win["max"]), hi)
    return [(wlo + lo) / 2, *inner, (hi + whi) / 2]


def compare_numeric(
    name: str, ref: Mapping[str, Any], win: Mapping[str, Any], t: DriftThresholds
) -> ColumnDrift:
    r, w = _numeric_buckets(ref, win)
    m, n = sum(r), int(win["n"])
    values_r, values_w = r[:-2], w[:-2]
    count = ref.get("count") or 0
    std = math.sqrt(ref["m2"] / (count - 1)) if count > 1 else 0.0
    wass = float(drift.wasserstein_binned(values_r, values_w, _midpoints(ref, win), max(std, 1e-3)))
    d = _common(name, "numeric", r, w, n, m, t)
    d.ks = float(drift.ks_binned(values_r, values_w))
    d.wasserstein = wass
    d.out_of_range_share = _share(win["below"] + win["above"], n)
    d.invalid_share = _share(win["invalid"], n)
    return d


def compare_categorical(
    name: str, ref: Mapping[str, Any], win: Mapping[str, Any], t: DriftThresholds
) -> ColumnDrift:
    r = [*(c for _, c in ref["top"]), ref.get("other", 0), ref.get("nulls", 0)]
    w = [*win["counts"], win["other"], win["nulls"]]
    m, n = sum(r), int(win["n"])
    d = _common(name, "categorical", r, w, n, m, t)
    d.ks = float(drift.linf_distance(r, w))
    nonnull_w, nonnull_r = n - win["nulls"], m - ref.get("nulls", 0)
    if ref.get("other", 0) == 0:
        d.unseen_share = _share(win["other"], nonnull_w)
    else:
        d.other_share_change = _share(win["other"], nonnull_w) - _share(ref["other"], nonnull_r)
    return d


def _common(
    name: str, kind: str, r: list[int], w: list[int], n: int, m: int, t: DriftThresholds
) -> ColumnDrift:
    d = _unscored(name, kind, r, w, n, m, t)
    if n:
        d.psi = float(drift.psi(r, w, t.epsilon))
        d.js = float(drift.js_distance(r, w))
    d.noise_floor = float(drift.psi_noise_floor(d.buckets, max(n, 1), max(m, 1), t.noise_quantile))
    return d


def _unscored(
    name: str, kind: str, r: list[int], w: list[int], n: int, m: int, t: DriftThresholds
) -> ColumnDrift:
    """A compared column before its statistics: counts, null share change, the minimum-rows flag;
    PSI, noise floor, JS and KS are NaN until filled in (one column here, or a batch in
    ``compare_columns``)."""
    null_at = -1 if kind == "categorical" else -2
    return ColumnDrift(
        column=name,
        kind=kind,
        n=n,
        m=m,
        psi=math.nan,
        noise_floor=math.nan,
        buckets=sum(1 for c in r if c > 0),
        js=math.nan,
        ks=math.nan,
        wasserstein=None,
        null_share_change=_share(w[null_at], n) - _share(r[null_at], m),
        unseen_share=None,
        other_share_change=None,
        out_of_range_share=None,
        invalid_share=None,
        missing=False,
        insufficient_data=n < t.min_rows,
    )


def column_status(
    d: ColumnDrift, t: DriftThresholds = DriftThresholds(), psi_level: int | None = None
) -> ColumnDrift:
    """Apply the rules to a compared column, filling ``status``, ``drifted`` and ``reasons``.

    - ``psi``: PSI > noise floor and n >= min_rows, then alert at psi_alert / warn at psi_warn;
    - ``unseen``: share of never-seen categories >= unseen_alert / unseen_warn;
    - ``null_rate``: missing share up by more than null_rise_alert (n >= min_rows) -> alert;
    - ``type``: share of non-numeric values in a numeric column >= invalid_alert / invalid_warn;
    - ``missing_column``: the column is absent from the data -> alert.

    ``psi_level``: the ``psi_levels`` value when the caller computed it for many columns at once.
    """
    reasons: list[dict[str, Any]] = []
    if d.missing:
        reasons.append({"rule": "missing_column", "status": "alert", "value": 1.0, "threshold": 1.0})
    if psi_level is not None:
        level = psi_level
    else:
        level = int(psi_levels(d.psi, d.noise_floor, d.n, t)) if d.n else 0
    if level:
        reasons.append(
            {
                "rule": "psi",
                "status": STATUSES[level],
                "value": d.psi,
                "threshold": t.psi_alert if level == 2 else t.psi_warn,
                "noise_floor": d.noise_floor,
            }
        )
    if d.unseen_share is not None and (lv := _level(d.unseen_share, t.unseen_warn, t.unseen_alert)):
        reasons.append(
            {
                "rule": "unseen",
                "status": lv,
                "value": d.unseen_share,
                "threshold": t.unseen_alert if lv == "alert" else t.unseen_warn,
            }
        )
    if d.invalid_share is not None and (lv := _level(d.invalid_share, t.invalid_warn, t.invalid_alert)):
        reasons.append(
            {
                "rule": "type",
                "status": lv,
                "value": d.invalid_share,
                "threshold": t.invalid_alert if lv == "alert" else t.invalid_warn,
            }
        )
    if d.n >= t.min_rows and d.null_share_change > t.null_rise_alert:
        reasons.append(
            {
                "rule": "null_rate",
                "status": "alert",
                "value": d.null_share_change,
                "threshold": t.null_rise_alert,
            }
        )
    d.reasons = reasons
    d.status = max((r["status"] for r in reasons), key=STATUSES.index, default="ok")
    d.drifted = any(r["rule"] in ("psi", "unseen") and r["status"] == "alert" for r in reasons)
    return d


def _validate_kinds(name: str, reference: Mapping[str, Any], window: Mapping[str, Any]) -> None:
    if reference.get("kind") != window.get("kind"):
        raise ValueError(
            f"columns.{name}: reference is {reference.get('kind')}, window is {window.get('kind')}"
        )


def compare_column(
    name: str, reference: Mapping[str, Any], window: Mapping[str, Any], t: DriftThresholds = DriftThresholds()
) -> ColumnDrift:
    """Statistics and status of one window column against its reference column (dicts as in
    ``tether.profile/1`` and ``tether.window/1``). ``compare_columns`` computes many at once."""
    _validate_kinds(name, reference, window)
    compare = compare_numeric if window["kind"] == "numeric" else compare_categorical
    d = compare(name, reference, window, t)
    d.missing = window["n"] > 0 and window.get("absent", 0) == window["n"]
    return column_status(d, t)


def _groups(keys: Sequence[int]) -> list[list[int]]:
    by: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        by.setdefault(k, []).append(i)
    return list(by.values())


def compare_columns(
    items: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]], t: DriftThresholds = DriftThresholds()
) -> list[ColumnDrift]:
    """``compare_column`` of many ``(name, reference column, window column)`` at once, with the same
    results: the bucket counts of the columns (of one window or of many) are stacked into 2-D
    arrays, one per bucket count (no padding, so no statistic sees a bucket it does not have), and
    every ``drift`` kernel runs once per stack inside a single ``np.errstate``."""
    rows: list[tuple[list[int], list[int]]] = []
    numeric: list[int] = []
    categorical: list[int] = []
    mids: dict[int, list[float]] = {}
    ref_mids: dict[int, tuple[float, float, list[float]]] = {}  # by id() of the reference column
    scales: dict[int, float] = {}
    out: list[ColumnDrift] = []
    for i, (name, ref, win) in enumerate(items):
        _validate_kinds(name, ref, win)
        if win["kind"] == "numeric":
            r, w = _numeric_buckets(ref, win)
            count = ref.get("count") or 0
            std = math.sqrt(ref["m2"] / (count - 1)) if count > 1 else 0.0
            if id(ref) not in ref_mids:
                ref_mids[id(ref)] = _ref_midpoints(ref)
            mids[i], scales[i] = _window_midpoints(ref_mids[id(ref)], win), max(std, 1e-3)
            numeric.append(i)
            kind = "numeric"
        else:
            r = [*(c for _, c in ref["top"]), ref.get("other", 0), ref.get("nulls", 0)]
            w = [*win["counts"], win["other"], win["nulls"]]
            categorical.append(i)
            kind = "categorical"
        rows.append((r, w))
        out.append(_unscored(name, kind, r, w, int(win["n"]), sum(r), t))
    if not out:
        return out
    psi = np.full(len(out), np.nan)
    js = np.full(len(out), np.nan)
    ks = np.full(len(out), np.nan)
    wass = np.full(len(out), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for idx in _groups([len(rows[i][0]) for i in range(len(rows))]):
            ref_c = np.array([rows[i][0] for i in idx], dtype=np.float64)
            win_c = np.array([rows[i][1] for i in idx], dtype=np.float64)
            psi[idx] = drift._psi(ref_c, win_c, t.epsilon)
            js[idx] = drift._js_distance(ref_c, win_c)
            cat = [j for j, i in enumerate(idx) if out[i].kind == "categorical"]
            if cat:
                ks[[idx[j] for j in cat]] = drift._linf_distance(ref_c[cat], win_c[cat])
        for idx in _groups([len(rows[i][0]) for i in numeric]):
            sel = [numeric[j] for j in idx]
            ref_v = np.array([rows[i][0][:-2] for i in sel], dtype=np.float64)
            win_v = np.array([rows[i][1][:-2] for i in sel], dtype=np.float64)
            mid = np.array([mids[i] for i in sel], dtype=np.float64)
            scale = np.array([scales[i] for i in sel], dtype=np.float64)
            wass[sel] = drift._wasserstein_binned(ref_v, win_v, mid, scale)
            ks[sel] = drift._ks_binned(ref_v, win_v)
        n_arr = np.array([max(d.n, 1) for d in out], dtype=np.float64)
        m_arr = np.array([max(d.m, 1) for d in out], dtype=np.float64)
        floor = drift._psi_noise_floor([d.buckets for d in out], n_arr, m_arr, t.noise_quantile)
        n_raw = np.array([d.n for d in out], dtype=np.float64)
        levels = np.where(
            n_raw > 0, psi_levels(np.where(n_raw > 0, psi, np.nan), floor, n_raw, t), 0
        ).tolist()
    psi_l, js_l, ks_l, wass_l, floor_l = psi.tolist(), js.tolist(), ks.tolist(), wass.tolist(), floor.tolist()
    for i, d in enumerate(out):
        _, ref, win = items[i]
        if d.n:
            d.psi, d.js = psi_l[i], js_l[i]
        d.noise_floor, d.ks = floor_l[i], ks_l[i]
        if d.kind == "numeric":
            d.wasserstein = wass_l[i]
            d.out_of_range_share = _share(win["below"] + win["above"], d.n)
            d.invalid_share = _share(win["invalid"], d.n)
        else:
            nonnull_w, nonnull_r = d.n - win["nulls"], d.m - ref.get("nulls", 0)
            if ref.get("other", 0) == 0:
                d.unseen_share = _share(win["other"], nonnull_w)
            else:
                d.other_share_change = _share(win["other"], nonnull_w) - _share(ref["other"], nonnull_r)
        d.missing = win["n"] > 0 and win.get("absent", 0) == win["n"]
        column_status(d, t, levels[i])
    return out


@dataclass
class DatasetDrift:
    drifted: bool
    share: float  # drifted share of the feature columns
    drifted_columns: list[str]
    prediction_drifted: bool
    importance_share: float | None = None  # share of total importance carried by drifted columns
    importance_drifted: bool | None = None


def dataset_drift(
    drifted: Mapping[str, bool],
    *,
    prediction_column: str | None = None,
    importances: Mapping[str, float] | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
) -> DatasetDrift:
    """Dataset verdict (Evidently's ``drift_share``): drifted when at least ``dataset_share`` of the
    monitored feature columns drifted, or the prediction column drifted. The share is over the
    columns other than the prediction column. With ``importances`` (issue 13), also the
    importance-weighted share sum(|imp| of drifted) / sum(|imp|) over monitored columns with an
    importance, alerting at ``importance_share``."""
    features = [c for c in drifted if c != prediction_column]
    hit = sorted(c for c in features if drifted[c])
    share = len(hit) / len(features) if features else 0.0
    pred = bool(prediction_column is not None and drifted.get(prediction_column, False))
    out = DatasetDrift(
        drifted=(bool(features) and share >= thresholds.dataset_share) or pred,
        share=share,
        drifted_columns=hit,
        prediction_drifted=pred,
    )
    if importances is not None:
        out.importance_share = importance_drift_share(drifted, importances)
        out.importance_drifted = out.importance_share >= thresholds.importance_share
    return out


def importance_drift_share(drifted: Mapping[str, bool], importances: Mapping[str, float]) -> float:
    """sum over drifted columns of |importance| / sum over monitored columns of |importance|
    (columns without an importance weigh 0; 0.0 when no monitored column has any)."""
    weights = {c: abs(float(importances[c])) for c in drifted if c in importances}
    total = sum(weights.values())
    return sum(w for c, w in weights.items() if drifted[c]) / total if total else 0.0


def compare_window(
    reference_profile: Mapping[str, Any],
    window: Mapping[str, Any],
    *,
    prediction_column: str | None = None,
    importances: Mapping[str, float] | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
    columns: Sequence[str] | None = None,
) -> tuple[dict[str, ColumnDrift], DatasetDrift]:
    """Every (selected) column of a window summary against the reference, and the dataset verdict."""
    return compare_windows(
        [(reference_profile, window)],
        prediction_column=prediction_column,
        importances=importances,
        thresholds=thresholds,
        columns=columns,
    )[0]


def compare_windows(
    pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    *,
    prediction_column: str | None = None,
    importances: Mapping[str, float] | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
    columns: Sequence[str] | None = None,
) -> list[tuple[dict[str, ColumnDrift], DatasetDrift]]:
    """``compare_window`` of many ``(reference profile, window summary)`` pairs of one monitor, every
    column of every window in one ``compare_columns`` batch."""
    items: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []
    spans: list[tuple[int, list[str]]] = []
    for profile, window in pairs:
        ref_cols = profile["columns"]
        names = [c for c in (columns or window["columns"]) if c in window["columns"]]
        spans.append((len(items), names))
        items.extend((c, ref_cols[c], window["columns"][c]) for c in names)
    compared = compare_columns(items, thresholds)
    out: list[tuple[dict[str, ColumnDrift], DatasetDrift]] = []
    for start, names in spans:
        result = dict(zip(names, compared[start : start + len(names)], strict=True))
        verdict = dataset_drift(
            {c: d.drifted for c, d in result.items()},
            prediction_column=prediction_column,
            importances=importances,
            thresholds=thresholds,
        )
        out.append((result, verdict))
    return out
