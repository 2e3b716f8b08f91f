"""Production-monitoring summaries: bin production data on the reference profile's edges, client-side.

Nothing here talks to a server and nothing heavy is imported by ``import tether``: numpy is used
when it is installed (``pip install 'tether[monitoring]'``), and a pure-Python path gives the same
counts without it. pandas, pyarrow and polars frames are accepted only when those are installed.

Reference
=========
The reference is a ``tether.profile/1`` dataset profile (see ``tether._datasets``): per numeric
column the reference deciles ``bin_edges = [e1..e9]`` (open outer bins: bin 0 is ``x < e1``, bin
``i`` is ``e_i <= x < e_(i+1)``, bin 9 is ``x >= e9``) with exact ``min``/``max``; per categorical
column the ``top`` (up to 50) categories and an ``other`` count.

Window summary ``tether.window/1``
==================================
A JSON-able dict; summaries of the same reference are **mergeable** with :func:`merge`::

    {"format": "tether.window/1",
     "n": int,                          # rows summarised
     "columns": {<name>: <column summary>, ...},   # every summarised reference column
     "unexpected_columns": {<name>: int}}          # columns absent from the reference: rows seen

Numeric column (reference ``kind == "numeric"``). Every row falls in exactly one of ``nulls``,
``nan``, ``invalid``, ``below``, ``counts[i]``, ``above``, so ``n == nulls + nan + invalid + below +
sum(counts) + above``::

    {"kind": "numeric",
     "n": int,          # rows (equals the summary's n)
     "nulls": int,      # None, pandas/arrow nulls, the profile's null strings ("", "NA", "null", ...)
                        # and rows where the column was absent
     "absent": int,     # of which the column was missing (dict row without the key, frame without
                        # the column): absent == n means the column is missing from the data
     "nan": int,        # float NaN (a tether.profile/1 reference counts NaN as null; the server
                        # compares nulls + nan against the reference's nulls)
     "invalid": int,    # values that are not numbers (a type change: a string, a bool)
     "below": int,      # out of range: x < reference min (includes -inf)
     "above": int,      # out of range: x > reference max (includes +inf)
     "counts": [int] * (len(bin_edges) + 1),  # the reference bins, for min <= x <= max, assigned
                        # exactly like the profile (bisect_right on bin_edges)
     "count": int,      # finite values (all of counts, below, above except +-inf)
     "mean": float,     # mean of those finite values (0.0 when count == 0)
     "m2": float,       # sum of squared deviations from the mean (Welford/Chan M2)
     "min": float | None, "max": float | None}   # over the finite values; None when count == 0

Categorical column (reference ``kind == "categorical"``); values are compared as ``str(value)``
like the profile does, ``n == nulls + sum(counts) + other``::

    {"kind": "categorical", "n": int, "nulls": int, "absent": int,
     "counts": [int] * len(top),        # in the reference's ``top`` order
     "other": int}                      # non-null values outside the reference's top categories

Merging adds every count; ``min``/``max`` take the min/max; ``mean`` and ``m2`` merge with Chan et
al.'s pairwise formula (n = na + nb, d = mean_b - mean_a, mean = mean_a + d*nb/n,
m2 = m2_a + m2_b + d^2*na*nb/n), so any merge order gives the one-shot values within floating
point (relative 1e-9 in the tests).

Performance summary ``tether.performance/1``
============================================
Ground truth arrives late and is summarised per window, also mergeable (:func:`merge_performance`):

- binary classification::

    {"format": "tether.performance/1", "kind": "binary",
     "threshold": float,                 # predicted positive when score >= threshold
     "tp": int, "fp": int, "tn": int, "fn": int,
     "bins": int,                        # score histograms on `bins` equal bins of [0, 1]
                                         # (bin = floor(score * bins), clipped to [0, bins - 1])
     "pos_hist": [int] * bins,           # scores of rows whose label is positive
     "neg_hist": [int] * bins}           # scores of rows whose label is negative

- multiclass: ``{"format", "kind": "multiclass", "n": int, "correct": int}``
- regression, with the error e = prediction - label::

    {"format", "kind": "regression", "n": int,
     "sum_err": float,       # sum e        (bias)
     "sum_sq_err": float,    # sum e^2      (MSE; also sum |e|^2 for MAE's variance)
     "sum_abs_err": float,   # sum |e|      (MAE)
     "sum_err4": float}      # sum e^4      (variance of e^2, for RMSE's confidence bound)

:func:`validate_summary` and :func:`validate_performance` are what a server runs on posted JSON.
"""

from __future__ import annotations

from ._performance import (
    PERFORMANCE_FORMAT,
    binary_summary,
    merge_performance,
    multiclass_summary,
    regression_summary,
    validate_performance,
)
from ._summary import WINDOW_FORMAT, build_summary, empty_summary, merge
from ._validate import validate_summary

__all__ = [
    "PERFORMANCE_FORMAT",
    "WINDOW_FORMAT",
    "binary_summary",
    "build_summary",
    "empty_summary",
    "merge",
    "merge_performance",
    "multiclass_summary",
    "regression_summary",
    "validate_performance",
    "validate_summary",
]
