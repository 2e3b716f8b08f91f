"""Validation of posted ``tether.window/1`` summaries (what a server runs on untrusted JSON)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._summary import _ADD, WINDOW_FORMAT, _reference_columns, _usable

MAX_UNEXPECTED = 1000  # names of unexpected columns a summary may report


def _count(value: Any, field: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{field}: expected a non-negative integer, got {value!r}")
    return value


def _finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def _validate_column(name: str, ref: Mapping[str, Any], col: Any, n: int) -> None:
    f = f"columns.{name}"
    if not isinstance(col, Mapping):
        raise ValueError(f"{f}: expected an object")
    kind = _usable(ref)
    if col.get("kind") != kind:
        raise ValueError(f"{f}.kind: the reference column is {kind}, got {col.get('kind')!r}")
    bins = len(ref["bin_edges"]) + 1 if kind == "numeric" else len(ref["top"])
    counts = col.get("counts")
    if not isinstance(counts, list) or len(counts) != bins:
        got = len(counts) if isinstance(counts, list) else type(counts).__name__
        raise ValueError(f"{f}.counts: expected a list of {bins} counts (the reference's bins), got {got}")
    total = sum(_count(c, f"{f}.counts[{i}]") for i, c in enumerate(counts))
    for key in _ADD[kind]:
        if key not in col:
            raise ValueError(f"{f}.{key}: missing")
        value = _count(col[key], f"{f}.{key}")
        total += value if key not in ("n", "absent") else 0
    if col["n"] != n:
        raise ValueError(f"{f}.n: expected the summary's n ({n}), got {col['n']}")
    if total != n:
        raise ValueError(f"{f}: the buckets add up to {total}, not to n = {n}")
    if col["absent"] > col["nulls"]:
        raise ValueError(f"{f}.absent: cannot exceed nulls ({col['nulls']})")
    if kind == "numeric":
        _validate_moments(f, col)


def _validate_moments(f: str, col: Mapping[str, Any]) -> None:
    count = _count(col.get("count"), f"{f}.count")
    if count > col["below"] + col["above"] + sum(col["counts"]):
        raise ValueError(f"{f}.count: exceeds the binned values")
    _finite(col.get("mean"), f"{f}.mean")
    if _finite(col.get("m2"), f"{f}.m2") < 0:
        raise ValueError(f"{f}.m2: must be >= 0, got {col['m2']!r}")
    if count == 0:
        if col.get("min") is not None or col.get("max") is not None:
            raise ValueError(f"{f}.min: must be null when count is 0")
        return
    lo, hi = _finite(col.get("min"), f"{f}.min"), _finite(col.get("max"), f"{f}.max")
    if lo > hi:
        raise ValueError(f"{f}.min: greater than max ({lo} > {hi})")


def validate_summary(reference_profile: Mapping[str, Any], summary: Any) -> dict[str, Any]:
    """Check a posted ``tether.window/1`` summary against its reference; raise ``ValueError`` naming
    the offending field. Returns the summary (unchanged) when it is valid."""
    ref_cols = _reference_columns(reference_profile)
    if not isinstance(summary, Mapping):
        raise ValueError("summary: expected an object")
    if summary.get("format") != WINDOW_FORMAT:
        raise ValueError(f"format: expected {WINDOW_FORMAT!r}, got {summary.get('format')!r}")
    n = _count(summary.get("n"), "n")
    cols = summary.get("columns")
    if not isinstance(cols, Mapping):
        raise ValueError("columns: expected an object")
    for name, col in cols.items():
        if name not in ref_cols:
            raise ValueError(f"columns.{name}: not a column of the reference profile")
        _validate_column(name, ref_cols[name], col, n)
    unexpected = summary.get("unexpected_columns", {})
    if not isinstance(unexpected, Mapping) or len(unexpected) > MAX_UNEXPECTED:
        raise ValueError(f"unexpected_columns: expected an object of at most {MAX_UNEXPECTED} columns")
    for k, v in unexpected.items():
        if _count(v, f"unexpected_columns.{k}") > n:
            raise ValueError(f"unexpected_columns.{k}: exceeds n")
    extra = set(summary) - {"format", "n", "columns", "unexpected_columns"}
    if extra:
        raise ValueError(f"{sorted(extra)[0]}: unknown field")
    return dict(summary)
