from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.api.helpers import assert_error, new_experiment, new_run
from tether_server.services.tracking.metrics import downsample


@pytest.fixture
def run_id(client, auth):
    return new_run(client, auth, new_experiment(client, auth, "hist"))


def _log(client, auth, rid, key, values, start=0):
    pts = [{"key": key, "value": v, "step": start + i, "timestamp": 1000 + i} for i, v in enumerate(values)]
    for i in range(0, len(pts), 10_000):
        r = client.post(f"/api/v1/runs/{rid}/batch", json={"metrics": pts[i : i + 10_000]}, headers=auth)
        assert r.status_code == 200, r.json


def test_full_history_pages(client, auth, run_id):
    _log(client, auth, run_id, "train/loss", [1.0 / (i + 1) for i in range(2500)])
    got, token, pages = [], None, 0
    while True:
        url = f"/api/v1/runs/{run_id}/metrics/train/loss?max_results=1000" + (
            f"&page_token={token}" if token else ""
        )
        page = client.get(url, headers=auth).json
        got += page["items"]
        token, pages = page["next_page_token"], pages + 1
        if not token:
            break
    assert pages == 3 and [p["step"] for p in got] == list(range(2500))
    assert got[9]["value"] == pytest.approx(0.1) and got[0]["timestamp"] == 1000


def test_key_with_slashes_and_dots(client, auth, run_id):
    _log(client, auth, run_id, "val.acc/top-1", [0.5, 0.6])
    body = client.get(f"/api/v1/runs/{run_id}/metrics/val.acc/top-1", headers=auth).json
    assert body["key"] == "val.acc/top-1" and [p["value"] for p in body["items"]] == [0.5, 0.6]


def test_downsampled_keeps_extremes_and_last(client, auth, run_id):
    values = [math.sin(i / 50) for i in range(10_000)]
    values[4321] = 50.0
    values[777] = -50.0
    _log(client, auth, run_id, "wave", values)
    body = client.get(f"/api/v1/runs/{run_id}/metrics/wave?max_points=200", headers=auth).json
    items = body["items"]
    assert body["downsampled"] is True and len(items) <= 200
    vals = [p["value"] for p in items]
    assert 50.0 in vals and -50.0 in vals
    assert items[-1]["step"] == 9999 and items[0]["step"] == 0
    assert [p["step"] for p in items] == sorted(p["step"] for p in items)


def test_unknown_key_is_empty_and_bad_args_400(client, auth, run_id):
    assert client.get(f"/api/v1/runs/{run_id}/metrics/none", headers=auth).json["items"] == []
    assert_error(
        client.get(f"/api/v1/runs/{run_id}/metrics/x?max_points=1", headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        client.get(f"/api/v1/runs/{run_id}/metrics/x?max_results=0", headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        client.get(f"/api/v1/runs/{run_id}/metrics/x?max_points=abc", headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        client.get(f"/api/v1/runs/{run_id}/metrics/x?page_token=zz", headers=auth), 400, "INVALID_ARGUMENT"
    )


pts_strategy = st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=400)


@hsettings(max_examples=200, deadline=None)
@given(values=pts_strategy, n=st.integers(2, 100))
def test_downsample_properties(values, n):
    points = [(i, v, i) for i, v in enumerate(values)]
    out = downsample(points, n)
    assert len(out) <= n or len(points) <= n
    assert out[-1] == points[-1] and out[0] == points[0]
    assert [p[0] for p in out] == sorted({p[0] for p in out})
    finite = [v for v in values if v == v]
    kept = [p[1] for p in out if p[1] == p[1]]
    if finite and len(points) > n >= 4:
        assert min(finite) in kept and max(finite) in kept


COLUMNAR = "application/vnd.tether.columnar+json"


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?format=columnar", {}),
        ("", {"Accept": COLUMNAR}),
        ("", {"Accept": f"application/json;q=0.5, {COLUMNAR}"}),
    ],
)
def test_columnar_form_holds_the_same_points(client, auth, run_id, query, headers):
    values = [1.0 / (i + 1) for i in range(300)]
    values[7:10] = ["NaN", "Infinity", "-Infinity"]  # how non-finite values travel
    _log(client, auth, run_id, "loss", values)
    rows = client.get(f"/api/v1/runs/{run_id}/metrics/loss", headers=auth)
    cols = client.get(f"/api/v1/runs/{run_id}/metrics/loss{query}", headers={**auth, **headers})
    assert rows.status_code == cols.status_code == 200
    assert rows.mimetype == "application/json" and cols.mimetype == COLUMNAR
    assert "Accept" in cols.headers["Vary"] and "Accept" in rows.headers["Vary"]
    c = cols.json
    assert set(c) == {"key", "steps", "values", "timestamps", "next_page_token", "downsampled"}
    items = rows.json["items"]
    assert c["steps"] == [p["step"] for p in items] == list(range(300))
    assert c["timestamps"] == [p["timestamp"] for p in items]
    assert (
        c["values"]
        == [p["value"] for p in items][:7]
        + ["NaN", "Infinity", "-Infinity"]
        + [p["value"] for p in items][10:]
    )
    assert c["key"] == "loss" and c["next_page_token"] is None and c["downsampled"] is False


def test_columnar_pages_and_downsamples_like_rows(client, auth, run_id):
    _log(client, auth, run_id, "acc", [math.sin(i / 30) for i in range(2500)])
    got, token = [], None
    while True:
        url = f"/api/v1/runs/{run_id}/metrics/acc?format=columnar&max_results=1000" + (
            f"&page_token={token}" if token else ""
        )
        page = client.get(url, headers=auth).json
        assert len(page["steps"]) == len(page["values"]) == len(page["timestamps"])
        got += page["steps"]
        token = page["next_page_token"]
        if not token:
            break
    assert got == list(range(2500))
    rows = client.get(f"/api/v1/runs/{run_id}/metrics/acc?max_points=100", headers=auth).json
    cols = client.get(f"/api/v1/runs/{run_id}/metrics/acc?max_points=100&format=columnar", headers=auth).json
    assert cols["steps"] == [p["step"] for p in rows["items"]] and cols["downsampled"] is True
    assert cols["values"] == [p["value"] for p in rows["items"]] and cols["total_points"] == 2500


def test_format_rows_wins_over_accept_and_bad_format_is_400(client, auth, run_id):
    _log(client, auth, run_id, "loss", [0.5])
    r = client.get(f"/api/v1/runs/{run_id}/metrics/loss?format=rows", headers={**auth, "Accept": COLUMNAR})
    assert r.mimetype == "application/json" and r.json["items"][0]["value"] == 0.5
    r = client.get(f"/api/v1/runs/{run_id}/metrics/loss?format=arrow", headers=auth)
    assert_error(r, 400, "INVALID_ARGUMENT")
    empty = client.get(f"/api/v1/runs/{run_id}/metrics/nothing?format=columnar", headers=auth).json
    assert empty["steps"] == empty["values"] == empty["timestamps"] == []


def test_columnar_pages_split_repeated_steps_like_rows(client, auth, run_id):
    """Points logged twice at one step (kept in arrival order) and page ends inside such a run of
    steps: the columnar pages (arrays from the database on PostgreSQL) hold exactly the rows form's
    points, in its order, with NaN and infinities spelled as in the rows form."""
    pts = []
    for i in range(120):
        value: Any = [0.25, "NaN", "Infinity", "-Infinity", -1.5][i % 5]
        pts.append({"key": "dup", "value": value, "step": i // 3, "timestamp": 5000 + i})
    r = client.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": pts}, headers=auth)
    assert r.status_code == 200, r.json
    for size in (7, 40, 119, 120, 1000):
        rows, cols, token_r, token_c = [], [], None, None
        while True:
            q = f"/api/v1/runs/{run_id}/metrics/dup?max_results={size}"
            a = client.get(q + (f"&page_token={token_r}" if token_r else ""), headers=auth).json
            b = client.get(
                q + "&format=columnar" + (f"&page_token={token_c}" if token_c else ""), headers=auth
            ).json
            assert len(b["steps"]) == len(b["values"]) == len(b["timestamps"]) == len(a["items"])
            rows += [(p["step"], p["value"], p["timestamp"]) for p in a["items"]]
            cols += list(zip(b["steps"], b["values"], b["timestamps"], strict=True))
            token_r, token_c = a["next_page_token"], b["next_page_token"]
            assert (token_r is None) == (token_c is None)
            if token_r is None:
                break
        assert rows == cols
        assert [c[2] for c in cols] == list(range(5000, 5120))  # arrival order within a step
        assert cols[1][1] == "NaN" and cols[2][1] == "Infinity" and cols[3][1] == "-Infinity"


def test_columnar_arrays_out_of_order_are_read_again_sorted(client, auth, run_id, monkeypatch, backend):
    """On PostgreSQL the columnar page's arrays are aggregated in the sorted subquery's order, which
    PostgreSQL documents as usually, not always, kept; the steps are checked and a page that does not
    come back strictly increasing is read again with ordered aggregates. Here the unordered statement
    is made to misorder (aggregated in reverse), and the answer must still be the rows form's order."""
    from tether_server.services.tracking import metrics as svc

    if backend != "postgres":
        pytest.skip("the arrays are built by PostgreSQL only")
    _log(client, auth, run_id, "loss", [float(i) for i in range(50)])
    reverse = svc._ARRAYS.replace("array_agg(step)", "array_agg(step ORDER BY step DESC)")
    assert reverse != svc._ARRAYS
    for statement in (svc._ARRAYS, reverse):
        monkeypatch.setattr(svc, "_ARRAYS", statement)
        body = client.get(f"/api/v1/runs/{run_id}/metrics/loss?format=columnar", headers=auth).json
        assert body["steps"] == list(range(50))
        assert body["values"] == [float(i) for i in range(50)]
        assert body["timestamps"] == [1000 + i for i in range(50)]


@pytest.mark.parametrize(
    "steps,expected",
    [([], True), ([3], True), ([1, 2, 5], True), ([1, 1, 2], False), ([2, 1], False), ([0, 5, 4], False)],
)
def test_increasing_steps(steps, expected):
    from tether_server.services.tracking.metrics import _increasing

    assert _increasing(steps) is expected


def test_rows_form_is_the_schema_dump_of_the_points(client, auth, run_id):
    """The rows form of a full page is built from the columnar arrays; the schema's own dumper (the
    ``max_points`` answer, which keeps every point when there are fewer) must give the same items,
    value spellings (NaN, infinities) and key order, and the body the same bytes."""
    from tether_server.jsonutil import dumps

    pts = []
    for i in range(300):
        value: Any = [0.25, "NaN", "Infinity", "-Infinity", -1.5e300, 7][i % 6]
        pts.append({"key": "mix", "value": value, "step": i // 2, "timestamp": 2**40 + i})
    assert client.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": pts}, headers=auth).status_code == 200
    full = client.get(f"/api/v1/runs/{run_id}/metrics/mix?max_results=1000", headers=auth)
    oracle = client.get(f"/api/v1/runs/{run_id}/metrics/mix?max_points=50000", headers=auth).json
    assert full.status_code == 200 and full.mimetype == "application/json"
    assert full.headers["Vary"] == "Accept"
    assert oracle["downsampled"] is False and oracle["total_points"] == 300
    expected = {"key": "mix", "items": oracle["items"], "next_page_token": None, "downsampled": False}
    assert full.json == expected
    assert full.data == dumps(expected)
    assert [p["value"] for p in full.json["items"][:6]] == [0.25, "NaN", "Infinity", "-Infinity", -1.5e300, 7]
