"""The fast paths of ingest agree with the general ones: raw rows binned column-wise with numpy
(all-numeric rows) give the summaries the SDK builds row by row, odd rows fall back to the
general path, the stored drift spliced into the drift answer decodes to what was computed, and
the bodyguard's bracket scan matches the plain string-aware reading."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.monitoring.helpers import HOUR, T0, create_monitor, production_model
from tether.monitoring import build_summary
from tether_server.bodyguard import _NOT_BRACKETS, _structure
from tether_server.models.monitoring import Monitor
from tether_server.services.monitoring import references
from tether_server.services.monitoring import rows as raw_rows

NOW = T0 + 10 * HOUR


def _rows(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    age = rng.normal(40, 10, n)
    income = rng.lognormal(10, 0.5, n)
    ts = T0 + rng.integers(0, 3 * HOUR, n)
    out = []
    for i, (a, inc, t) in enumerate(zip(age.tolist(), income.tolist(), ts.tolist(), strict=True)):
        row = {"age": a if i % 7 else int(a), "income": inc, "extra": 1, "timestamp": t}
        out.append(dict(reversed(list(row.items()))) if i % 5 == 0 else row)  # key order varies
    out[3]["age"] = 1e9  # out of range
    return out


def _view(profile: dict[str, Any]) -> references.ReferenceView:
    return references.ReferenceView(1, 1, 1, [1], [], profile, None, 0)


def _both(monitor: Monitor, view: references.ReferenceView, rows: Any) -> tuple[Any, Any]:
    fast = raw_rows._summaries(monitor, view, rows, NOW)
    assert raw_rows._columnar(monitor, view, rows, NOW) is not None
    general = raw_rows._summaries(monitor, view, [dict(r, plan=None) for r in rows], NOW)
    return fast, general


def test_columnar_rows_equal_the_general_path(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    ref = client.get(f"/api/v1/monitors/{create_monitor(client, auth)['id']}/reference", headers=auth).json
    profile = {**ref["profile"], "columns": {k: ref["profile"]["columns"][k] for k in ("age", "income")}}
    monitor = Monitor(label_column=None, window_seconds=3600)
    rows = _rows(np.random.default_rng(5), 3000)
    (counts, summaries, _), (g_counts, g_summaries, _) = _both(monitor, _view(profile), rows)
    assert counts == g_counts and sum(counts.values()) == 3000 and len(counts) == 3
    for ws, s in summaries.items():
        g = g_summaries[ws]
        assert s["columns"] == g["columns"]  # counts, moments, min/max: identical
        assert s["unexpected_columns"] == {"extra": counts[ws]}
        expected = build_summary(profile, [r for r in rows if r["timestamp"] - r["timestamp"] % HOUR == ws])
        assert s["columns"] == expected["columns"]


def test_odd_rows_take_the_general_path() -> None:
    profile = {
        "format": "tether.profile/1",
        "rows": 4,
        "columns": {
            "x": {
                "kind": "numeric",
                "count": 4,
                "nulls": 0,
                "mean": 0.0,
                "m2": 1.0,
                "min": -1.0,
                "max": 1.0,
                "bin_edges": [0.0],
                "bin_counts": [2, 2],
            },  # fmt: skip
            "c": {"kind": "categorical", "count": 4, "nulls": 0, "top": [["a", 4]], "other": 0},
        },
    }
    monitor, view = Monitor(label_column=None, window_seconds=3600), _view(profile)
    ok = [{"x": 0.5, "timestamp": T0}, {"x": -0.5, "timestamp": T0}]
    assert raw_rows._columnar(monitor, view, ok, NOW) is not None
    for odd in (
        [{"x": True, "timestamp": T0}],  # a bool is invalid, not 1.0
        [{"x": "0.5", "timestamp": T0}],  # numbers in strings are parsed value by value
        [{"x": None, "timestamp": T0}],  # null, not NaN
        [{"x": 0.5, "timestamp": T0}, {"x": 0.5}],  # different keys
        [{"x": 0.5, "timestamp": float(T0)}],  # a float timestamp is refused by the general path
        [{"x": 0.5, "timestamp": NOW + 2 * HOUR}],  # in the future
        [{"x": 10**400, "timestamp": T0}],  # beyond the float range
        [{"c": 1.0, "timestamp": T0}],  # a categorical column
    ):
        assert raw_rows._columnar(monitor, view, odd, NOW) is None, odd
    assert raw_rows._columnar(Monitor(label_column="y", window_seconds=3600), view, ok, NOW) is None
    counts, summaries, _ = raw_rows._summaries(monitor, view, [{"x": True, "timestamp": T0}], NOW)
    assert summaries[T0]["columns"]["x"]["invalid"] == 1 and counts == {T0: 1}


def test_raw_rows_over_http_match_the_sdk(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth, columns=["age", "income"])
    ref = client.get(f"/api/v1/monitors/{m['id']}/reference", headers=auth).json
    rows = _rows(np.random.default_rng(9), 2000)
    r = client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": rows})
    assert r.status_code == 200, r.json
    assert sum(w["rows"] for w in r.json["windows"]) == 2000
    d = client.get(f"/api/v1/monitors/{m['id']}/drift", headers=auth).json
    assert len(d["windows"]) == 3
    for w in d["windows"]:
        mine = [x for x in rows if x["timestamp"] - x["timestamp"] % HOUR == w["window_start"]]
        expected = build_summary(ref["profile"], mine)
        assert w["n"] == len(mine) and w["dataset"]["unexpected_columns"] == {"extra": len(mine)}
        h = client.get(
            f"/api/v1/monitors/{m['id']}/windows/{w['window_start']}/histogram?column=age", headers=auth
        ).json
        col = expected["columns"]["age"]
        assert h["window_counts"] == [col["below"], *col["counts"], col["above"], 0, 0]


def test_drift_answer_decodes_to_the_stored_results(app: Any, client: Any, auth: dict[str, str]) -> None:
    """Closed windows are spliced from the stored text; the answer is valid JSON with the same
    values as the stored drift (and an older row holding NaN is re-encoded as null)."""
    from sqlalchemy import update

    from tests.monitoring.test_api import _evaluate
    from tether_server.models.monitoring import MonitorWindowResult
    from tether_server.runtime import Runtime

    production_model(app, client, auth)
    m = create_monitor(client, auth)
    rows = [dict(r, plan="pro") for r in _rows(np.random.default_rng(3), 900)]
    assert (
        client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": rows}).status_code == 200
    )
    _evaluate(app, T0 + 10 * HOUR)
    raw = client.get(f"/api/v1/monitors/{m['id']}/drift", headers=auth)
    body = orjson.loads(raw.data)
    db = Runtime.of(app).database
    with db.session() as s:
        stored = {r.window_start: r for r in s.query(MonitorWindowResult).filter_by(monitor_id=m["id"])}
        for w in body["windows"]:
            r = stored[w["window_start"]]
            assert r.closed and not w["partial"]
            assert {k: w[k] for k in ("columns", "dataset", "status")} == r.drift
        if db.dialect != "sqlite":
            return  # PostgreSQL's json type refuses NaN, so only SQLite can hold an older row's NaN
        first = body["windows"][0]["window_start"]
        drift = stored[first].drift
        drift["columns"]["age"]["psi"] = float("nan")
        s.execute(
            update(MonitorWindowResult)
            .where(MonitorWindowResult.monitor_id == m["id"], MonitorWindowResult.window_start == first)
            .values(drift=drift)
        )
        s.commit()
    again = orjson.loads(client.get(f"/api/v1/monitors/{m['id']}/drift", headers=auth).data)
    assert again["windows"][0]["columns"]["age"]["psi"] is None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(alphabet='ab"\\[]{}\n\u00e9'),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='k"\\[]{}', max_size=4), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_bracket_scan_matches_the_string_aware_regex(doc: Any) -> None:
    raw = orjson.dumps(doc)
    assert _structure(raw) == _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
