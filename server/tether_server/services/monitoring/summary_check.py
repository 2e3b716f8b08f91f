"""The posted-summary check, vectorised: the same rules as ``tether.monitoring.validate_summary``
(the SDK's pure-Python validator, which words every error), run as a few numpy operations over all
columns at once instead of a Python loop per count.

``accepts(layout, summary)`` is True only when ``validate_summary`` would accept the summary, and
it never raises. On False the caller runs ``validate_summary``, which raises the precise
``ValueError`` (or, for what this check leaves to it, e.g. counts beyond 2**40 or the integer
types the check does not vectorise, accepts). So the accepted set and every error message are
exactly the validator's.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.monitoring import WINDOW_FORMAT

from ..._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_UNEXPECTED = 1000  # as tether.monitoring._validate
BIG = 2**40  # counts above this go to the exact (Python int) validator: no int64 overflow in sums
_TOP_KEYS = frozenset({"format", "n", "columns", "unexpected_columns"})
_NUMERIC = ("n", "nulls", "absent", "nan", "invalid", "below", "above", "count")
_CATEGORICAL = ("n", "nulls", "absent", "other")
_NUMERIC_VALUES = operator.itemgetter(*_NUMERIC)  # one C call per column (KeyError when one is missing)
_CATEGORICAL_VALUES = operator.itemgetter(*_CATEGORICAL)
_INT = {int}
_NUMBER = {int, float}

Layout = dict[str, tuple[str, int]]  # column -> (usable kind, bins)


def layout_of(profile: Mapping[str, Any]) -> Layout:
    """Per reference column: the kind a summary must carry (``numeric``, ``categorical`` or
    ``empty``, as the validator's ``_usable``) and its number of bins. Computed once per reference."""
    out: Layout = {}
    for name, ref in profile.get("columns", {}).items():
        kind = ref.get("kind")
        if kind == "numeric":
            usable = bool(ref.get("bin_edges")) and ref.get("min") is not None
            out[name] = ("numeric", len(ref["bin_edges"]) + 1) if usable else ("empty", 0)
        elif kind == "categorical":
            out[name] = ("categorical", len(ref["top"]))
        else:
            out[name] = ("unsupported", 0)  # the validator raises for it
    return out


def _ints(rows: list[list[Any]]) -> np.ndarray | None:
    if not rows:
        return np.zeros((0, 0), dtype=np.int64)
    if set(map(type, itertools.chain.from_iterable(rows))) != _INT:
        return None
    try:
        out = np.array(rows, dtype=np.int64)
    except (OverflowError, ValueError):  # beyond int64, or ragged
        return None
    if out.ndim != 2 or (out < 0).any() or (out > BIG).any():
        return None
    return out


def _counts_ok(rows: list[list[Any]], bins: int, extra: tuple[str, ...], n: int) -> np.ndarray | None:
    """``rows``: per column ``[*counts, *extra values]``; every value a non-negative int, n equal
    to the summary's, the buckets adding up to n, absent <= nulls. The array, or None."""
    a = _ints(rows)
    if a is None:
        return None
    if not len(a):
        return a
    k = {key: bins + i for i, key in enumerate(extra)}
    buckets = a[:, :bins].sum(axis=1)
    for key in extra:
        if key not in ("n", "absent", "count"):
            buckets = buckets + a[:, k[key]]
    ok = (a[:, k["n"]] == n).all() and (buckets == n).all() and (a[:, k["absent"]] <= a[:, k["nulls"]]).all()
    return a if ok else None


def _moments_ok(moments: list[tuple[Any, ...]], a: np.ndarray, bins: int) -> bool:
    """mean, m2 finite numbers (m2 >= 0); count <= binned values; min/max null when count is 0,
    else finite with min <= max."""
    count = a[:, bins + _NUMERIC.index("count")]
    binned = (
        a[:, :bins].sum(axis=1) + a[:, bins + _NUMERIC.index("below")] + a[:, bins + _NUMERIC.index("above")]
    )
    if (count > binned).any():
        return False
    empty = count == 0
    values: list[Any] = []
    for (mean, m2, lo, hi), e in zip(moments, empty.tolist(), strict=True):
        if e:
            if lo is not None or hi is not None:
                return False
            values += (mean, m2, 0.0, 0.0)
        else:
            values += (mean, m2, lo, hi)
    if not set(map(type, values)) <= _NUMBER:
        return False
    try:
        m = np.array(values, dtype=np.float64).reshape(-1, 4)
    except OverflowError:
        return False
    return bool(np.isfinite(m).all() and (m[:, 1] >= 0).all() and (m[:, 2] <= m[:, 3]).all())


def accepts(layout: Layout, summary: Any) -> bool:
    """True when ``validate_summary`` would accept ``summary`` against the reference of ``layout``."""
    if type(summary) is not dict or summary.get("format") != WINDOW_FORMAT or not summary.keys() <= _TOP_KEYS:
        return False
    n, cols = summary.get("n"), summary.get("columns")
    if type(n) is not int or n < 0 or n > BIG or type(cols) is not dict:
        return False
    unexpected = summary.get("unexpected_columns", {})
    if type(unexpected) is not dict or len(unexpected) > MAX_UNEXPECTED:
        return False
    u = list(unexpected.values())
    if u and (set(map(type, u)) != _INT or min(u) < 0 or max(u) > n):
        return False
    numeric: dict[int, list[list[Any]]] = {}
    moments: dict[int, list[tuple[Any, ...]]] = {}
    categorical: dict[int, list[list[Any]]] = {}
    try:
        for name, col in cols.items():
            kind, bins = layout[name]
            if type(col) is not dict or col.get("kind") != kind:
                return False
            counts = col.get("counts")
            if type(counts) is not list or len(counts) != bins:
                return False
            if kind == "numeric":
                numeric.setdefault(bins, []).append([*counts, *_NUMERIC_VALUES(col)])
                moments.setdefault(bins, []).append(
                    (col.get("mean"), col.get("m2"), col.get("min"), col.get("max"))
                )
            elif kind == "categorical":
                categorical.setdefault(bins, []).append([*counts, *_CATEGORICAL_VALUES(col)])
            else:
                return False
    except KeyError:  # a column not in the reference, or a missing count
        return False
    for bins, rows in numeric.items():
        a = _counts_ok(rows, bins, _NUMERIC, n)
        if a is None or not _moments_ok(moments[bins], a, bins):
            return False
    return all(_counts_ok(rows, bins, _CATEGORICAL, n) is not None for bins, rows in categorical.items())
