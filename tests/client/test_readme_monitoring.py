"""The README's merge examples run as written: DuckDB (embedded) over Parquet files, and the Spark
``mapInPandas`` summarising function over pandas partitions, both against a one-shot summary."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import pytest

from tether.monitoring import build_summary, merge

from .test_monitor_sdk import REF1, MonitorServer

README = Path(__file__).resolve().parents[2] / "README.md"
H = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % H


def example(name: str) -> str:
    m = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert m, f"README example {name} not found"
    return m[1]


def events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "x": rng.gauss(11, 3) if rng.random() > 0.02 else None,
            "c": rng.choice("abcde"),
            "ts": T0 + rng.randrange(3 * H),
        }
        for _ in range(n)
    ]


def one_shot(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["ts"] - r["ts"] % H, []).append({k: v for k, v in r.items() if k != "ts"})
    return {start: build_summary(REF1, part) for start, part in out.items()}


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["n"] == want["n"]
    for name, w in want["columns"].items():
        g = got["columns"][name]
        for key in ("counts", "below", "above", "other", "min", "max", "count"):
            assert g.get(key) == w.get(key), (name, key)
        # pandas turns None into NaN in a float column; the server compares nulls + nan anyway
        assert g["nulls"] + g.get("nan", 0) == w["nulls"] + w.get("nan", 0), name
        for key in ("mean", "m2"):
            if key in w:
                assert g[key] == pytest.approx(w[key], rel=1e-9, abs=1e-12), (name, key)


def test_duckdb_example(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = events(20_000, 1)
    (tmp_path / "events").mkdir()
    for i in range(8):  # 8 files, each spanning every window
        pq.write_table(pa.Table.from_pylist(rows[i::8]), tmp_path / "events" / f"part-{i}.parquet")
    srv = MonitorServer()
    client, _ = srv.client()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(example("duckdb"), {"client": client, "mon": client.monitors.get(7)})
    finally:
        os.chdir(cwd)
    want = one_shot(rows)
    assert {s for s, _ in srv.windows} == set(want)
    for start, w in want.items():
        assert_same(srv.windows[(start, "duckdb-backfill")]["summary"], w)


def test_spark_summarise_function_over_partitions() -> None:
    pd = pytest.importorskip("pandas")
    srv = MonitorServer()
    client, _ = srv.client()
    ns: dict[str, Any] = {"ref": client.monitors.reference(7)}
    exec(example("spark-summarise"), ns)
    rows = events(12_000, 2)
    df = pd.DataFrame(rows)
    partitions = [df.iloc[i::5] for i in range(5)]  # what Spark hands each executor
    out = [ns["summarise"](iter([p.iloc[: len(p) // 2], p.iloc[len(p) // 2 :]])) for p in partitions]
    import json

    windows: dict[int, dict[str, Any]] = {}
    for gen in reversed(out):  # another merge order than the partitions'
        for r in next(gen).itertuples():
            s = json.loads(r.summary)
            windows[r.window_start] = merge(windows[r.window_start], s) if r.window_start in windows else s
    want = one_shot(rows)
    assert set(windows) == set(want)
    for start, w in want.items():
        assert_same(windows[start], w)
