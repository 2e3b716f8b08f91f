"""Per-window performance summaries (``tether.performance/1``, documented in the package)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._summary import _numpy
from ._validate import _count, _finite

PERFORMANCE_FORMAT = "tether.performance/1"
_FIELDS = {
    "binary": ("threshold", "tp", "fp", "tn", "fn", "bins", "pos_hist", "neg_hist"),
    "multiclass": ("n", "correct"),
    "regression": ("n", "sum_err", "sum_sq_err", "sum_abs_err", "sum_err4"),
}
_SUMS = ("sum_err", "sum_sq_err", "sum_abs_err", "sum_err4")


def _pair(a: Sequence[Any], b: Sequence[Any], what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} labels but {len(b)} predictions")


def _floats(values: Sequence[Any], field: str) -> list[float]:
    out = [float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    for i, x in enumerate(out):
        if not math.isfinite(x):
            raise ValueError(f"{field}[{i}]: expected a finite number, got {x!r}")
    return out


def binary_summary(
    y_true: Sequence[Any],
    y_score: Sequence[float],
    *,
    threshold: float = 0.5,
    bins: int = 20,
    pos_label: Any = 1,
    use_numpy: bool | None = None,
) -> dict[str, Any]:
    """Confusion counts at ``threshold`` (positive when score >= threshold) and score histograms
    of the positives and negatives on ``bins`` equal bins of [0, 1] (scores outside are clipped).
    Hard 0/1 predictions are scores too."""
    _pair(y_true, y_score, "binary_summary")
    if bins < 1:
        raise ValueError("bins: must be >= 1")
    labels = y_true.tolist() if hasattr(y_true, "tolist") else list(y_true)
    pos = [y == pos_label for y in labels]
    scores = _floats(y_score, "y_score")
    np = _numpy(use_numpy)
    if np is not None:
        p, s = np.asarray(pos, dtype=bool), np.asarray(scores, dtype=np.float64)
        idx = np.clip(np.floor(s * bins), 0, bins - 1).astype(np.intp)
        hit = s >= threshold
        pos_hist = np.bincount(idx[p], minlength=bins).tolist()
        neg_hist = np.bincount(idx[~p], minlength=bins).tolist()
        tp, fp = int(np.count_nonzero(hit & p)), int(np.count_nonzero(hit & ~p))
        fn, tn = int(np.count_nonzero(p)) - tp, int(p.size - np.count_nonzero(p)) - fp
    else:
        pos_hist, neg_hist = [0] * bins, [0] * bins
        tp = fp = tn = fn = 0
        for is_pos, x in zip(pos, scores, strict=True):
            i = min(bins - 1, max(0, math.floor(x * bins)))
            if is_pos:
                pos_hist[i] += 1
                tp, fn = (tp + 1, fn) if x >= threshold else (tp, fn + 1)
            else:
                neg_hist[i] += 1
                fp, tn = (fp + 1, tn) if x >= threshold else (fp, tn + 1)
    return {
        "format": PERFORMANCE_FORMAT,
        "kind": "binary",
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "bins": bins,
        "pos_hist": pos_hist,
        "neg_hist": neg_hist,
    }


def multiclass_summary(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, Any]:
    """``n`` labelled rows and how many were predicted ``correct``ly (accuracy)."""
    _pair(y_true, y_pred, "multiclass_summary")
    t = y_true.tolist() if hasattr(y_true, "tolist") else y_true
    p = y_pred.tolist() if hasattr(y_pred, "tolist") else y_pred
    return {
        "format": PERFORMANCE_FORMAT,
        "kind": "multiclass",
        "n": len(t),
        "correct": sum(1 for a, b in zip(t, p, strict=True) if a == b),
    }


def regression_summary(
    y_true: Sequence[float], y_pred: Sequence[float], *, use_numpy: bool | None = None
) -> dict[str, Any]:
    """Sums of the errors e = prediction - label: n, sum e, sum e^2, sum |e|, sum e^4."""
    _pair(y_true, y_pred, "regression_summary")
    t, p = _floats(y_true, "y_true"), _floats(y_pred, "y_pred")
    np = _numpy(use_numpy)
    if np is not None:
        e = np.asarray(p, dtype=np.float64) - np.asarray(t, dtype=np.float64)
        e2 = e * e
        sums = [float(e.sum()), float(e2.sum()), float(np.abs(e).sum()), float((e2 * e2).sum())]
    else:
        e = [b - a for a, b in zip(t, p, strict=True)]
        sums = [
            math.fsum(e),
            math.fsum(x * x for x in e),
            math.fsum(abs(x) for x in e),
            math.fsum(x**4 for x in e),
        ]
    return {
        "format": PERFORMANCE_FORMAT,
        "kind": "regression",
        "n": len(t),
        **dict(zip(_SUMS, sums, strict=True)),
    }


def merge_performance(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The performance summary of the union of two windows' labelled rows (associative)."""
    kind = a.get("kind")
    if b.get("kind") != kind or kind not in _FIELDS:
        raise ValueError(f"kind: cannot merge {a.get('kind')!r} with {b.get('kind')!r}")
    out: dict[str, Any] = {"format": PERFORMANCE_FORMAT, "kind": kind}
    if kind == "binary":
        if a["threshold"] != b["threshold"] or a["bins"] != b["bins"]:
            raise ValueError("threshold/bins: summaries use different thresholds or score bins")
        out.update(threshold=a["threshold"], bins=a["bins"])
        for key in ("tp", "fp", "tn", "fn"):
            out[key] = a[key] + b[key]
        for key in ("pos_hist", "neg_hist"):
            out[key] = [x + y for x, y in zip(a[key], b[key], strict=True)]
    else:
        for key in _FIELDS[kind]:
            out[key] = a[key] + b[key]
    return out


def validate_performance(summary: Any) -> dict[str, Any]:
    """Check a posted performance summary; raise ``ValueError`` naming the offending field."""
    if not isinstance(summary, Mapping):
        raise ValueError("summary: expected an object")
    if summary.get("format") != PERFORMANCE_FORMAT:
        raise ValueError(f"format: expected {PERFORMANCE_FORMAT!r}, got {summary.get('format')!r}")
    kind = summary.get("kind")
    if kind not in _FIELDS:
        raise ValueError(f"kind: expected one of {sorted(_FIELDS)}, got {kind!r}")
    extra = set(summary) - {"format", "kind", *_FIELDS[kind]}
    if extra:
        raise ValueError(f"{sorted(extra)[0]}: unknown field for a {kind} summary")
    for key in _FIELDS[kind]:
        if key not in summary:
            raise ValueError(f"{key}: missing")
    if kind == "binary":
        _validate_binary(summary)
    elif kind == "multiclass":
        if _count(summary["correct"], "correct") > _count(summary["n"], "n"):
            raise ValueError("correct: exceeds n")
    else:
        _count(summary["n"], "n")
        for key in _SUMS:
            _finite(summary[key], key)
        for key in ("sum_sq_err", "sum_abs_err", "sum_err4"):
            if summary[key] < 0:
                raise ValueError(f"{key}: must be >= 0")
    return dict(summary)


def _validate_binary(s: Mapping[str, Any]) -> None:
    _finite(s["threshold"], "threshold")
    bins = _count(s["bins"], "bins")
    if not 1 <= bins <= 1000:
        raise ValueError(f"bins: expected 1..1000, got {bins}")
    totals = {}
    for key in ("pos_hist", "neg_hist"):
        hist = s[key]
        if not isinstance(hist, list) or len(hist) != bins:
            raise ValueError(f"{key}: expected a list of {bins} counts")
        totals[key] = sum(_count(c, f"{key}[{i}]") for i, c in enumerate(hist))
    tp, fp, tn, fn = (_count(s[k], k) for k in ("tp", "fp", "tn", "fn"))
    if totals["pos_hist"] != tp + fn:
        raise ValueError(f"pos_hist: holds {totals['pos_hist']} scores but tp + fn = {tp + fn}")
    if totals["neg_hist"] != fp + tn:
        raise ValueError(f"neg_hist: holds {totals['neg_hist']} scores but fp + tn = {fp + tn}")
