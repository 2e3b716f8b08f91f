"""tether.monitoring: window summaries on the reference bins, merge (Chan), validation, and the
numpy and pure-Python paths agreeing."""

from __future__ import annotations

import bisect
import math
import random
import subprocess
import sys
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether._datasets import _profile
from tether.monitoring import (
    binary_summary,
    build_summary,
    empty_summary,
    merge,
    merge_performance,
    multiclass_summary,
    regression_summary,
    validate_performance,
    validate_summary,
)

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
MOMENTS = ("mean", "m2")


def make_reference(seed: int = 0, n: int = 5000) -> dict[str, Any]:
    rng = random.Random(seed)
    rows = [
        [
            rng.gauss(10, 3),
            rng.choice("abcdef"),
            rng.randint(0, 5),
            None if rng.random() < 0.05 else rng.random(),
        ]
        for _ in range(n)
    ]
    return _profile(["x", "c", "k", "u"], lambda: iter(rows))[1]


REF = make_reference()


def mixed_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Rows with everything the binning must sort out: nulls, NaN, +-inf, out-of-range values,
    strings (numeric and not), bools, null strings, unseen categories, absent keys, extra keys."""
    rng = random.Random(seed)
    specials = [None, math.nan, math.inf, -math.inf, 1e9, -1e9, "12.5", "oops", True, "NA", "", " 7 "]
    rows = []
    for i in range(n):
        r: dict[str, Any] = {
            "x": rng.gauss(11, 4) if rng.random() > 0.15 else rng.choice(specials),
            "c": rng.choice("abcdefzy") if rng.random() > 0.1 else rng.choice([None, "null", 3]),
            "k": rng.randint(-1, 7),
            "u": rng.random(),
        }
        if i % 17 == 0:
            del r["u"]
        if i % 23 == 0:
            r["extra"] = 1
        rows.append(r)
    return rows


def expected_numeric(values: list[Any], ref: dict[str, Any]) -> dict[str, int]:
    """An independent, plain re-statement of the numeric bucket rules."""
    out = {"nulls": 0, "nan": 0, "invalid": 0, "below": 0, "above": 0}
    counts = [0] * (len(ref["bin_edges"]) + 1)
    for v in values:
        if v is None or (
            isinstance(v, str) and v.strip() in ("", "NA", "N/A", "null", "NULL", "None", "nan", "NaN")
        ):
            out["nulls"] += 1
            continue
        if isinstance(v, bool):
            out["invalid"] += 1
            continue
        try:
            x = float(v)
        except ValueError:
            out["invalid"] += 1
            continue
        if math.isnan(x):
            out["nan"] += 1
        elif x < ref["min"]:
            out["below"] += 1
        elif x > ref["max"]:
            out["above"] += 1
        else:
            counts[bisect.bisect_right(ref["bin_edges"], x)] += 1
    return {**out, "counts": counts}


@pytest.mark.parametrize("use_numpy", [False, True])
def test_numeric_buckets_follow_the_rules(use_numpy: bool) -> None:
    rows = mixed_rows(3000, seed=1)
    s = build_summary(REF, rows, use_numpy=use_numpy)
    col, ref = s["columns"]["x"], REF["columns"]["x"]
    exp = expected_numeric([r["x"] for r in rows], ref)
    assert {k: col[k] for k in exp} == exp
    finite = [
        float(r["x"])
        for r in rows
        if expected_numeric([r["x"]], ref)["nan"]
        + expected_numeric([r["x"]], ref)["nulls"]
        + expected_numeric([r["x"]], ref)["invalid"]
        == 0
        and math.isfinite(float(r["x"]))
    ]
    assert col["count"] == len(finite)
    assert col["mean"] == pytest.approx(np.mean(finite), rel=1e-12)
    assert col["m2"] == pytest.approx(np.var(finite) * len(finite), rel=1e-9)
    assert (col["min"], col["max"]) == (min(finite), max(finite))
    assert s["columns"]["u"]["absent"] == sum(1 for r in rows if "u" not in r) > 0
    assert s["unexpected_columns"] == {"extra": sum(1 for r in rows if "extra" in r)}
    validate_summary(REF, s)


def test_reference_data_reproduces_the_profile_bin_counts() -> None:
    rng = random.Random(0)
    rows = [{"x": rng.gauss(10, 3)} for _ in range(4000)]
    ref = _profile(["x"], lambda: ([r["x"]] for r in rows))[1]
    s = build_summary(ref, rows)
    assert s["columns"]["x"]["counts"] == ref["columns"]["x"]["bin_counts"]
    assert s["columns"]["x"]["below"] == s["columns"]["x"]["above"] == 0
    assert s["columns"]["x"]["m2"] == pytest.approx(ref["columns"]["x"]["m2"], rel=1e-9)


def test_categorical_counts_on_reference_top_and_other() -> None:
    rows = mixed_rows(2000, seed=2)
    s = build_summary(REF, rows, columns=["c"])
    col = s["columns"]["c"]
    top = [v for v, _ in REF["columns"]["c"]["top"]]
    values = [r["c"] for r in rows]
    nonnull = [str(v) for v in values if v is not None and v != "null"]
    assert col["nulls"] == len(values) - len(nonnull)
    assert col["counts"] == [nonnull.count(t) for t in top]
    assert col["other"] == sum(1 for v in nonnull if v not in top) > 0
    assert list(s["columns"]) == ["c"]


def _numeric_frame(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(11, 4, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    u = rng.random(n)
    return {"x": x, "c": rng.choice(list("abcdefq"), n), "k": rng.integers(-1, 8, n), "u": u}


def _same(a: dict[str, Any], b: dict[str, Any], rel: float = 1e-9) -> None:
    """Counts and min/max exactly, mean and M2 within a relative tolerance."""
    assert a["n"] == b["n"] and a["unexpected_columns"] == b["unexpected_columns"]
    assert a["columns"].keys() == b["columns"].keys()
    for name, ca in a["columns"].items():
        cb = b["columns"][name]
        assert {k: v for k, v in ca.items() if k not in MOMENTS} == {
            k: v for k, v in cb.items() if k not in MOMENTS
        }, name
        for k in MOMENTS:
            if k in ca:
                assert ca[k] == pytest.approx(cb[k], rel=rel, abs=1e-12), (name, k)


def test_frames_and_paths_agree() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    data = _numeric_frame(20_000, seed=3)
    df = pd.DataFrame(data)
    ref = build_summary(REF, data, use_numpy=False)
    for s in (
        build_summary(REF, data),
        build_summary(REF, df),
        build_summary(REF, df, use_numpy=False),
        build_summary(REF, pa.table(data)),
        build_summary(REF, pa.table(data), use_numpy=False),
        build_summary(REF, df.to_dict("records")),
    ):
        _same(s, ref)
    assert ref["columns"]["x"]["nan"] > 0 and ref["columns"]["x"]["above"] > 0


def test_nullable_pandas_and_arrow_nulls_are_nulls_not_nan() -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": pd.array([1.0, None, 12.0, 30.0], dtype="Float64"), "extra": [1, 2, 3, 4]})
    tbl = pa.table({"x": pa.array([1.0, None, 12.0, float("nan")])})
    for use_numpy in (True, False):
        a = build_summary(REF, df, columns=["x"], use_numpy=use_numpy)["columns"]["x"]
        assert (a["nulls"], a["nan"]) == (1, 0)
        b = build_summary(REF, tbl, columns=["x"], use_numpy=use_numpy)["columns"]["x"]
        assert (b["nulls"], b["nan"]) == (1, 1)
    s = build_summary(REF, df)
    assert s["unexpected_columns"] == {"extra": 4}
    assert s["columns"]["c"]["absent"] == s["columns"]["c"]["nulls"] == 4


def _parts(data: dict[str, Any], k: int) -> list[dict[str, Any]]:
    n = len(data["x"])
    cuts = [0, *sorted(random.Random(k).sample(range(1, n), k - 1)), n]
    return [{c: v[a:b] for c, v in data.items()} for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


@pytest.mark.parametrize("use_numpy", [True, False])
def test_merge_of_eight_parts_in_any_order_equals_one_shot(use_numpy: bool) -> None:
    data = _numeric_frame(40_000, seed=4)
    whole = build_summary(REF, data, use_numpy=use_numpy)
    parts = [build_summary(REF, p, use_numpy=use_numpy) for p in _parts(data, 8)]
    orders = [parts, parts[::-1], random.Random(1).sample(parts, 8), random.Random(2).sample(parts, 8)]
    for order in orders:
        _same(reduce(merge, order), whole)
        _same(reduce(lambda a, b: merge(b, a), order), whole)
    tree = merge(
        merge(merge(parts[0], parts[1]), merge(parts[2], parts[3])),
        merge(merge(parts[4], parts[5]), merge(parts[6], parts[7])),
    )
    _same(tree, whole)
    _same(merge(empty_summary(REF), whole), whole)
    validate_summary(REF, tree)


finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
values = st.one_of(
    finite_floats, st.none(), st.just(math.nan), st.just(math.inf), st.sampled_from(["3.5", "x"])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(values, max_size=60), st.lists(st.integers(0, 60), max_size=4), st.randoms())
def test_merge_property(xs: list[Any], cut_points: list[int], rnd: random.Random) -> None:
    rows = [{"x": v} for v in xs]
    cuts = sorted({0, len(rows), *(min(c, len(rows)) for c in cut_points)})
    parts = [
        build_summary(REF, rows[a:b], columns=["x"], use_numpy=False)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    whole = build_summary(REF, rows, columns=["x"])
    rnd.shuffle(parts)
    merged = reduce(merge, parts, empty_summary(REF, ["x"]))
    _same(merged, whole, rel=1e-9)
    validate_summary(REF, merged)


def _bad(path: str, value: Any) -> dict[str, Any]:
    s = build_summary(REF, mixed_rows(200, seed=5))
    target: Any = s
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is KeyError:
        del target[last]
    else:
        target[last] = value
    return s


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "tether.window/0", "format"),
        ("n", -1, "n: expected a non-negative integer"),
        ("columns.x.counts", [1, 2], "columns.x.counts: expected a list of 10"),
        ("columns.x.counts.3", -2, "columns.x.counts[3]"),
        ("columns.x.counts.3", 2.5, "columns.x.counts[3]"),
        ("columns.x.nan", 10**6, "columns.x: the buckets add up"),
        ("columns.x.mean", math.inf, "columns.x.mean: expected a finite number"),
        ("columns.x.m2", -1.0, "columns.x.m2"),
        ("columns.x.min", "low", "columns.x.min"),
        ("columns.x.kind", "categorical", "columns.x.kind"),
        ("columns.c.counts", [1] * 5, "columns.c.counts"),
        ("columns.c.other", KeyError, "columns.c.other: missing"),
        ("columns.nope", {"kind": "numeric"}, "columns.nope: not a column of the reference"),
        ("unexpected_columns.z", True, "unexpected_columns.z"),
        ("surprise", 1, "surprise: unknown field"),
    ],
)
def test_validation_names_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_summary(REF, _bad(path, value))


def test_merge_refuses_different_binnings() -> None:
    other = make_reference(seed=1)
    other["columns"]["x"]["bin_edges"] = other["columns"]["x"]["bin_edges"][:5]
    with pytest.raises(ValueError, match="columns.x"):
        merge(build_summary(REF, [{"x": 1.0}]), build_summary(other, [{"x": 1.0}]))


@pytest.mark.parametrize("use_numpy", [False, True])
def test_performance_summaries(use_numpy: bool) -> None:
    rng = np.random.default_rng(6)
    y = rng.random(5000) < 0.3
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), -0.2, 1.2)
    s = binary_summary(y.tolist(), score.tolist(), threshold=0.5, use_numpy=use_numpy)
    hit = score >= 0.5
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (
        int((hit & y).sum()),
        int((hit & ~y).sum()),
        int((~hit & ~y).sum()),
        int((~hit & y).sum()),
    )
    idx = np.clip(np.floor(score * 20), 0, 19).astype(int)
    assert s["pos_hist"] == np.bincount(idx[y], minlength=20).tolist()
    assert s["neg_hist"] == np.bincount(idx[~y], minlength=20).tolist()
    halves = [binary_summary(y[a:b], score[a:b], use_numpy=use_numpy) for a, b in ((0, 1234), (1234, 5000))]
    assert merge_performance(*halves) == s
    validate_performance(s)
    t, p = rng.normal(size=999), rng.normal(size=999)
    r = regression_summary(t, p, use_numpy=use_numpy)
    e = p - t
    assert [r["sum_err"], r["sum_sq_err"], r["sum_abs_err"], r["sum_err4"]] == pytest.approx(
        [e.sum(), (e**2).sum(), np.abs(e).sum(), (e**4).sum()], rel=1e-9
    )
    merged = merge_performance(regression_summary(t[:400], p[:400]), regression_summary(t[400:], p[400:]))
    assert merged["n"] == 999 and merged["sum_sq_err"] == pytest.approx(r["sum_sq_err"], rel=1e-12)
    m = multiclass_summary(["a", "b", "c", "a"], ["a", "c", "c", "b"])
    assert (m["n"], m["correct"]) == (4, 2)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"tp": -1}, "tp"),
        ({"pos_hist": [1] * 19}, "pos_hist"),
        ({"fn": 10**6}, "pos_hist: holds"),
        ({"kind": "ranking"}, "kind"),
        ({"threshold": math.nan}, "threshold"),
        ({"bonus": 1}, "bonus"),
    ],
)
def test_performance_validation(patch: dict[str, Any], message: str) -> None:
    s = binary_summary([1, 0, 1], [0.9, 0.1, 0.3])
    with pytest.raises(ValueError, match=message):
        validate_performance({**s, **patch})
    with pytest.raises(ValueError, match="sum_sq_err"):
        validate_performance({**regression_summary([1.0], [2.0]), "sum_sq_err": -1.0})


def test_import_tether_does_not_import_monitoring_or_numpy() -> None:
    code = (
        "import sys, tether; bad = [m for m in ('numpy', 'pandas', 'pyarrow', 'tether.monitoring') "
        "if m in sys.modules]; assert not bad, bad"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(CLIENT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
