"""The posted-summary check, fast: the same rules as ``tether.monitoring.validate_summary`` (the
SDK's validator, which words every error), with no error to word: per column one C call fetches
every field and ``sum`` adds the counts, and the types and bounds of all the counts (and all the
moments) are checked at the end in one pass each, instead of a check per value.

``accepts(layout, summary)`` is True only when ``validate_summary`` would accept the summary, and
it never raises. On False the caller runs ``validate_summary``, which raises the precise
``ValueError`` (or, for what this check leaves to it, e.g. counts beyond 2**40 or int subclasses,
accepts). So the accepted set and every error message are
exactly the validator's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

from tether.monitoring import WINDOW_FORMAT

MAX_UNEXPECTED = 1000  # as tether.monitoring._validate
BIG = 2**40  # counts above this are left to the validator (no real window comes near it)
_TOP_KEYS = frozenset({"format", "n", "columns", "unexpected_columns"})
# one C call per column for every field the check needs but min/max (KeyError when one is missing)
_NUMERIC = operator.itemgetter(
    "kind", "counts", "n", "nulls", "absent", "nan", "invalid", "below", "above", "count", "mean", "m2"
)
_CATEGORICAL = operator.itemgetter("kind", "counts", "n", "nulls", "absent", "other")
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


def _counts_ok(values: list[Any]) -> bool:
    """Every value a non-negative int no larger than ``BIG`` (so no sum can overflow anything)."""
    return not values or (set(map(type, values)) == _INT and min(values) >= 0 and max(values) <= BIG)


def _numbers_ok(values: list[Any]) -> bool:
    """Every value a finite int or float (bools are not numbers here, as in the validator)."""
    try:
        return not values or (set(map(type, values)) <= _NUMBER and all(map(math.isfinite, values)))
    except OverflowError:  # an int too large for a float
        return False


def accepts(layout: Layout, summary: Any) -> bool:
    """True when ``validate_summary`` would accept ``summary`` against the reference of ``layout``.

    The sums and comparisons per column run before the types are known: a value of the wrong
    type either raises ``TypeError`` there (a refusal) or is refused by the type checks at the
    end, so the answer only stands once those pass."""
    if type(summary) is not dict or summary.get("format") != WINDOW_FORMAT or not summary.keys() <= _TOP_KEYS:
        return False
    n, cols = summary.get("n"), summary.get("columns")
    if type(n) is not int or n < 0 or n > BIG or type(cols) is not dict:
        return False
    unexpected = summary.get("unexpected_columns", {})
    if type(unexpected) is not dict or len(unexpected) > MAX_UNEXPECTED:
        return False
    u = list(unexpected.values())
    if u and (not _counts_ok(u) or max(u) > n):
        return False
    counts_seen: list[Any] = []  # every count of every column, end to end
    numbers: list[Any] = []  # mean and m2 of every numeric column, min and max of the non-empty ones
    try:
        for name, col in cols.items():
            kind, bins = layout[name]
            if type(col) is not dict:
                return False
            if kind == "numeric":
                k, counts, cn, nulls, absent, nan, invalid, below, above, count, mean, m2 = _NUMERIC(col)
                if k != kind or type(counts) is not list or len(counts) != bins:
                    return False
                binned = sum(counts)
                if (
                    cn != n
                    or binned + nulls + nan + invalid + below + above != n
                    or absent > nulls
                    or count > binned + below + above
                    or m2 < 0
                ):
                    return False
                counts_seen += counts
                counts_seen += (cn, nulls, absent, nan, invalid, below, above, count)
                lo: Any = col.get("min")
                hi: Any = col.get("max")
                if count == 0:
                    if lo is not None or hi is not None:
                        return False
                    numbers += (mean, m2)
                elif lo > hi:
                    return False
                else:
                    numbers += (mean, m2, lo, hi)
            elif kind == "categorical":
                k, counts, cn, nulls, absent, other = _CATEGORICAL(col)
                if k != kind or type(counts) is not list or len(counts) != bins:
                    return False
                if cn != n or sum(counts) + nulls + other != n or absent > nulls:
                    return False
                counts_seen += counts
                counts_seen += (cn, nulls, absent, other)
            else:
                return False
    except (KeyError, TypeError):  # a column not in the reference, a missing field, a wrong type
        return False
    return _counts_ok(counts_seen) and _numbers_ok(numbers)
