"""Build, merge and validate ``tether.window/1`` summaries (format documented in the package)."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .._datasets import NULLS, PROFILE_FORMAT
from ._frames import ABSENT, extract

WINDOW_FORMAT = "tether.window/1"
_NULL = object()
_INVALID = object()
_NULL_TYPES = frozenset({"NAType", "NaTType"})  # pandas.NA, pandas.NaT (checked by name: no import)


def _numpy(use_numpy: bool | None) -> Any | None:
    if use_numpy is False:
        return None
    try:
        import numpy
    except ImportError:
        if use_numpy:
            raise RuntimeError("use_numpy=True needs numpy: pip install 'tether[monitoring]'") from None
        return None
    return numpy


def _reference_columns(reference: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(reference, Mapping) or reference.get("format") != PROFILE_FORMAT:
        raise ValueError(f"reference must be a {PROFILE_FORMAT} profile")
    cols = reference.get("columns")
    if not isinstance(cols, Mapping):
        raise ValueError("reference.columns must be an object")
    return cols


# ---------------------------------------------------------------- value classification


def _as_float(v: Any) -> Any:
    """A float, or ``_NULL`` / ``_INVALID``, with the profile's notion of null."""
    if v is None:
        return _NULL
    t = type(v)
    if t is float or t is int:
        try:
            return float(v)
        except OverflowError:  # an int beyond the float range
            return math.copysign(math.inf, v)
    if t is str:
        s = v.strip()
        if s in NULLS:
            return _NULL
        try:
            return float(s)
        except ValueError:
            return _INVALID
    if isinstance(v, bool) or t.__name__ == "bool_":
        return _INVALID
    if t.__name__ in _NULL_TYPES:
        return _NULL
    try:
        return float(v)
    except (TypeError, ValueError):
        return _INVALID


def _is_null(v: Any) -> bool:
    if v is None or v is ABSENT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, str):
        return v.strip() in NULLS
    return type(v).__name__ in _NULL_TYPES


# ---------------------------------------------------------------- numeric kernels


def _empty_numeric(bins: int) -> dict[str, Any]:
    return {
        "kind": "numeric",
        "n": 0,
        "nulls": 0,
        "absent": 0,
        "nan": 0,
        "invalid": 0,
        "below": 0,
        "above": 0,
        "counts": [0] * bins,
        "count": 0,
        "mean": 0.0,
        "m2": 0.0,
        "min": None,
        "max": None,
    }


def _classify(values: Sequence[Any], out: dict[str, Any]) -> list[float]:
    floats: list[float] = []
    append = floats.append
    for v in values:
        if v is ABSENT:
            out["absent"] += 1
            out["nulls"] += 1
            continue
        x = v if type(v) is float else _as_float(v)
        if x is _NULL:
            out["nulls"] += 1
        elif x is _INVALID:
            out["invalid"] += 1
        else:
            append(x)
    return floats


def _bin_py(xs: list[float], edges: list[float], lo: float, hi: float, out: dict[str, Any]) -> None:
    counts = out["counts"]
    finite: list[float] = []
    for x in xs:
        if x != x:
            out["nan"] += 1
        elif x < lo:
            out["below"] += 1
            if x != -math.inf:
                finite.append(x)
        elif x > hi:
            out["above"] += 1
            if x != math.inf:
                finite.append(x)
        else:
            counts[bisect.bisect_right(edges, x)] += 1
            finite.append(x)
    if finite:
        mean = math.fsum(finite) / len(finite)
        out.update(
            count=len(finite),
            mean=mean,
            m2=math.fsum((x - mean) ** 2 for x in finite),
            min=min(finite),
            max=max(finite),
        )


def _bin_counts(np: Any, x: Any, edges: Any) -> list[int]:
    """Counts per bin with bisect_right semantics (bin = number of edges <= x). For the profile's
    9 edges, one comparison pass per edge (#(x >= e_i), differenced) beats a binary search."""
    if len(edges) > 32:
        return [
            int(c) for c in np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
        ]
    ge = [x.size, *(int(np.count_nonzero(x >= e)) for e in edges), 0]
    return [a - b for a, b in zip(ge[:-1], ge[1:], strict=True)]


CHUNK = 1 << 16  # numpy temporaries per chunk stay small and in cache (large ones page-fault)


def _bin_np(np: Any, x: Any, mask: Any, edges: Any, lo: float, hi: float, out: dict[str, Any]) -> None:
    if mask is not None:
        out["nulls"] += int(np.count_nonzero(mask))
        x = x[~mask]
    counts = [0] * (len(edges) + 1)
    moments: dict[str, Any] = {"count": 0, "mean": 0.0, "m2": 0.0, "min": None, "max": None}
    for start in range(0, x.size, CHUNK):
        c = x[start : start + CHUNK]
        isnan = np.isnan(c)
        n_nan = int(np.count_nonzero(isnan))
        if n_nan:
            out["nan"] += n_nan
            c = c[~isnan]
        below, above = c < lo, c > hi
        n_below, n_above = int(np.count_nonzero(below)), int(np.count_nonzero(above))
        inside = c[~(below | above)] if n_below or n_above else c
        out["below"] += n_below
        out["above"] += n_above
        counts = [a + b for a, b in zip(counts, _bin_counts(np, inside, edges), strict=True)]
        finite = c[np.isfinite(c)] if n_below or n_above else inside
        if finite.size:
            mean = float(finite.mean())
            d = finite - mean
            chunk = {
                "count": int(finite.size),
                "mean": mean,
                "m2": float(np.einsum("i,i->", d, d)),  # not BLAS: its threads thrash shared cores
                "min": float(finite.min()),
                "max": float(finite.max()),
            }
            moments = _merge_moments(moments, chunk)
    out["counts"] = counts
    out.update(moments)


_PLAIN = frozenset({float, int, type(None)})


def _plain_numbers(np: Any, values: Sequence[Any]) -> tuple[Any, Any] | None:
    """``(float64 array, null mask)`` when every value is a float, an int or None (JSON rows),
    else ``None`` (the caller classifies value by value). Same buckets as ``_classify``."""
    types = set(map(type, values))
    if not types <= _PLAIN:
        return None
    try:
        arr = np.array(values, dtype=np.float64)  # None becomes NaN: the mask tells them apart
    except OverflowError:
        return None
    mask = (
        np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        if type(None) in types
        else None
    )
    return arr, mask


def _numeric(ref: Mapping[str, Any], col: tuple[Any, ...], n: int, np: Any | None) -> dict[str, Any]:
    edges = [float(e) for e in ref["bin_edges"]]
    lo, hi = float(ref["min"]), float(ref["max"])
    out = _empty_numeric(len(edges) + 1)
    out["n"] = n
    if col[0] == "absent":
        out["nulls"] = out["absent"] = n
        return out
    if col[0] == "np":
        assert np is not None  # "np" columns exist only when numpy is used
        _bin_np(np, col[1], col[2], np.asarray(edges, dtype=np.float64), lo, hi, out)
        return out
    if np is not None and (fast := _plain_numbers(np, col[1])) is not None:
        _bin_np(np, fast[0], fast[1], np.asarray(edges, dtype=np.float64), lo, hi, out)
        return out
    xs = _classify(col[1], out)
    if np is not None:
        _bin_np(np, np.asarray(xs, dtype=np.float64), None, np.asarray(edges, dtype=np.float64), lo, hi, out)
    else:
        _bin_py(xs, edges, lo, hi, out)
    return out


def _categorical(ref: Mapping[str, Any], col: tuple[Any, ...], n: int) -> dict[str, Any]:
    top = [str(v) for v, _ in ref["top"]]
    if col[0] == "absent":
        return {"kind": "categorical", "n": n, "nulls": n, "absent": n, "counts": [0] * len(top), "other": 0}
    values = col[1].tolist() if col[0] == "np" else col[1]
    seen: Counter[str] = Counter()
    nulls = absent = 0
    for v in values:
        if _is_null(v):
            nulls += 1
            absent += v is ABSENT
        else:
            seen[str(v)] += 1
    out: dict[str, Any] = {"kind": "categorical", "n": n, "nulls": nulls, "absent": absent}
    out["counts"] = [seen.pop(t, 0) for t in top]
    out["other"] = sum(seen.values())
    return out


def _usable(ref: Mapping[str, Any]) -> str:
    kind = ref.get("kind")
    if kind == "numeric":  # a profile without values has no edges: nothing to bin on
        return "numeric" if ref.get("bin_edges") and ref.get("min") is not None else "empty"
    if kind == "categorical":
        return kind
    raise ValueError(f"reference column kind {kind!r} is not supported")


# ---------------------------------------------------------------- public API


def build_summary(
    reference_profile: Mapping[str, Any],
    rows_or_frame: Any,
    columns: Sequence[str] | None = None,
    *,
    use_numpy: bool | None = None,
) -> dict[str, Any]:
    """Summarise ``rows_or_frame`` on the reference's bins: a ``tether.window/1`` dict.

    ``rows_or_frame``: a list of dicts, a dict of columns (lists or numpy arrays), or a pandas,
    pyarrow (Table/RecordBatch) or polars DataFrame. ``columns``: the reference columns to
    summarise (default: all of them). ``use_numpy``: ``None`` uses numpy when it is installed;
    ``False`` forces the pure-Python path (same counts).
    """
    ref_cols = _reference_columns(reference_profile)
    names = list(ref_cols) if columns is None else list(columns)
    for name in names:
        if name not in ref_cols:
            raise ValueError(f"column {name!r} is not in the reference profile")
    kinds = {name: _usable(ref_cols[name]) for name in names}
    names = [name for name in names if kinds[name] != "empty"]
    np = _numpy(use_numpy)
    numeric = frozenset(name for name in names if kinds[name] == "numeric")
    n, data, unexpected = extract(rows_or_frame, names, numeric, np)
    out_cols = {
        name: (
            _numeric(ref_cols[name], data[name], n, np)
            if name in numeric
            else _categorical(ref_cols[name], data[name], n)
        )
        for name in names
    }
    unexpected = {k: v for k, v in unexpected.items() if k not in ref_cols}
    return {"format": WINDOW_FORMAT, "n": n, "columns": out_cols, "unexpected_columns": unexpected}


def empty_summary(
    reference_profile: Mapping[str, Any], columns: Sequence[str] | None = None
) -> dict[str, Any]:
    """The summary of no rows (the identity of :func:`merge`)."""
    return build_summary(reference_profile, [], columns, use_numpy=False)


def _merge_moments(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    na, nb = a["count"], b["count"]
    if not nb:
        return {k: a[k] for k in ("count", "mean", "m2", "min", "max")}
    if not na:
        return {k: b[k] for k in ("count", "mean", "m2", "min", "max")}
    n = na + nb
    delta = b["mean"] - a["mean"]
    return {
        "count": n,
        "mean": a["mean"] + delta * nb / n,
        "m2": a["m2"] + b["m2"] + delta * delta * na * nb / n,
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
    }


_ADD = {
    "numeric": ("n", "nulls", "absent", "nan", "invalid", "below", "above"),
    "categorical": ("n", "nulls", "absent", "other"),
}


def _merge_column(name: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    kind = a["kind"]
    if b["kind"] != kind or len(a["counts"]) != len(b["counts"]):
        raise ValueError(f"columns.{name}: summaries were binned differently and cannot be merged")
    out: dict[str, Any] = {"kind": kind, **{k: a[k] + b[k] for k in _ADD[kind]}}
    out["counts"] = [x + y for x, y in zip(a["counts"], b["counts"], strict=True)]
    if kind == "numeric":
        out.update(_merge_moments(a, b))
    return out


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of the union of two windows' rows (associative and commutative).

    A column present in only one summary (e.g. summarised with ``columns=``) is kept as is.
    """
    for s in (a, b):
        if s.get("format") != WINDOW_FORMAT:
            raise ValueError(f"format: expected {WINDOW_FORMAT!r}, got {s.get('format')!r}")
    cols: dict[str, Any] = {}
    for name in {**a["columns"], **b["columns"]}:
        ca, cb = a["columns"].get(name), b["columns"].get(name)
        cols[name] = _merge_column(name, ca, cb) if ca and cb else dict(ca or cb)
    unexpected = dict(a.get("unexpected_columns", {}))
    for k, v in b.get("unexpected_columns", {}).items():
        unexpected[k] = unexpected.get(k, 0) + v
    return {"format": WINDOW_FORMAT, "n": a["n"] + b["n"], "columns": cols, "unexpected_columns": unexpected}
