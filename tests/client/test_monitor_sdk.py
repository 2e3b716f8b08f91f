"""``tether.monitor`` / ``client.monitors`` over a fake transport: windows by timestamp, whole-window
posts per source with Idempotency-Keys, retries with the client's policy, 409 stale reference ->
re-bin on the new edges, labels, and frames of every supported kind giving the same summary."""

from __future__ import annotations

import datetime as dt
import random
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tether
from tether._datasets import _profile
from tether.monitoring import binary_summary, build_summary, merge, regression_summary

from .fakes import Call, FakeTransport, error, reply

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
H = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % H  # a window start (epoch ms, aligned to the hour)


def profile(seed: int, shift: float = 0.0) -> dict[str, Any]:
    rng = random.Random(seed)
    rows = [[rng.gauss(10 + shift, 3), rng.choice("abc")] for _ in range(2000)]
    return _profile(["x", "c"], lambda: iter(rows))[1]


REF1, REF2 = profile(1), profile(2, shift=5.0)


def rows(n: int, seed: int, ts: int | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = [{"x": rng.gauss(10, 3), "c": rng.choice("abcd")} for _ in range(n)]
    if ts is not None:
        for i, r in enumerate(out):
            r["timestamp"] = ts + i
    return out


class MonitorServer:
    """Monitors, references and the window/label routes in memory (the REST contract of issue 11)."""

    def __init__(self) -> None:
        self.refs = {1: REF1}
        self.current = 1
        self.windows: dict[tuple[int, str], dict[str, Any]] = {}
        self.perf: dict[tuple[int, str], dict[str, Any]] = {}
        self.labels: list[dict[str, Any]] = []
        self.keys: dict[str, Any] = {}
        self.fail: list[Any] = []
        self.lock = threading.Lock()
        self.monitor = {
            "id": 7,
            "name": "churn-prod",
            "model": "churn",
            "stage": "Production",
            "metric": "auc",
            "window_seconds": 3600,
        }

    def client(self, **kw: Any) -> tuple[tether.Client, FakeTransport]:
        t = FakeTransport(self.handle)
        c = tether.Client("http://tether.test", token="t", transport=t, **kw)
        c._sleep = lambda s: None
        return c, t

    def reference(self) -> dict[str, Any]:
        return {
            "reference_id": self.current,
            "profile": self.refs[self.current],
            "window_seconds": 3600,
            "columns": ["x", "c"],
            "model_version": self.current,
        }

    def handle(self, call: Call) -> Any:
        with self.lock:
            for hook in list(self.fail):
                if (r := hook(call)) is not None:
                    return r
            m, p = call.method, call.path
            if m == "GET" and p == "/monitors":
                items = [self.monitor] if call.params.get("model") == "churn" else []
                return reply(200, {"items": items, "next_page_token": None})
            if m == "GET" and p == "/monitors/7":
                return reply(200, self.monitor)
            if m == "GET" and p == "/monitors/7/reference":
                return reply(200, self.reference())
            if m == "POST" and p in ("/monitors/7/windows", "/monitors/7/labels"):
                key = call.idempotency_key
                assert key, "every data post carries an Idempotency-Key"
                if key in self.keys:
                    return self.keys[key]
                r = self._post(p, call.body)
                if r.status_code < 300:
                    self.keys[key] = r
                return r
            return error(404, "NOT_FOUND", f"no route {m} {p}")

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        if path.endswith("/windows"):
            if body["reference_id"] != self.current:
                return error(409, "FAILED_PRECONDITION", "stale reference", reference=self.reference())
            self.windows[(body["window_start"], body["source"])] = body
            return reply(201, {"window_start": body["window_start"], "n": body["summary"]["n"]})
        if "labels" in body:
            self.labels.extend(body["labels"])
            return reply(200, {"labels": len(body["labels"])})
        self.perf[(body["window_start"], body["source"])] = body
        return reply(201, {"window_start": body["window_start"]})

    def merged(self, start: int) -> dict[str, Any]:
        parts = [w["summary"] for (s, _), w in sorted(self.windows.items()) if s == start]
        out = parts[0]
        for p in parts[1:]:
            out = merge(out, p)
        return out


@pytest.fixture
def srv() -> MonitorServer:
    return MonitorServer()


def test_monitor_finds_by_stage_fetches_the_reference_once_and_posts_whole_windows(
    srv: MonitorServer,
) -> None:
    c, t = srv.client()
    m = tether.monitor("churn", stage="production", client=c, source="pod-1", flush_interval=3600)
    assert m.id == 7 and m.reference.reference_id == 1 and m.window_ms == H
    a, b = rows(300, 1, ts=T0 + 10), rows(200, 2, ts=T0 + 20)
    assert m.log(a) == 300 and m.log(b) == 200
    m.flush()
    m.log(rows(100, 3, ts=T0 + 30))
    m.close()
    posts = [x for x in t.calls if x.path.endswith("/windows")]
    assert len(posts) == 2  # one per flush, each the source's whole window so far
    assert [p.body["summary"]["n"] for p in posts] == [500, 600]
    assert len({p.idempotency_key for p in posts}) == 2
    assert sum(1 for x in t.calls if x.path.endswith("/reference")) == 1
    expected = build_summary(
        REF1, [{k: v for k, v in r.items() if k != "timestamp"} for r in a + b + rows(100, 3)]
    )
    got = srv.windows[(T0, "pod-1")]["summary"]
    assert got["columns"]["x"]["counts"] == expected["columns"]["x"]["counts"]
    assert got["columns"]["c"] == expected["columns"]["c"]
    assert got["unexpected_columns"] == {}  # the timestamp column is not data
    assert got["columns"]["x"]["mean"] == pytest.approx(expected["columns"]["x"]["mean"], rel=1e-12)


def test_rows_are_split_into_epoch_aligned_windows(srv: MonitorServer) -> None:
    c, _ = srv.client()
    m = tether.monitor("churn", stage="Production", client=c, source="s", flush_interval=3600)
    data = rows(10, 1, ts=T0 - 5) + rows(7, 2, ts=T0 + H - 5) + rows(3, 3, ts=T0 + 5 * H)
    m.log(data)
    m.close()
    assert {s: w["summary"]["n"] for (s, _), w in srv.windows.items()} == {
        T0 - H: 5,
        T0: 10,
        T0 + H: 2,
        T0 + 5 * H: 3,
    }
    assert all(s % H == 0 for s, _ in srv.windows)


def test_timestamp_argument_and_datetimes(srv: MonitorServer) -> None:
    c, _ = srv.client()
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    m.log(rows(4, 1), timestamp=T0 + 2 * H + 1)
    when = dt.datetime.fromtimestamp((T0 + 3 * H) / 1000, tz=dt.UTC)
    m.log([{**r, "timestamp": when} for r in rows(2, 2)])
    m.log([{**r, "timestamp": when.replace(tzinfo=None).isoformat()} for r in rows(1, 3)])
    m.close()
    assert {s: w["summary"]["n"] for (s, _), w in srv.windows.items()} == {T0 + 2 * H: 4, T0 + 3 * H: 3}


def test_replicas_post_under_their_own_sources_and_merge_on_the_server(srv: MonitorServer) -> None:
    data = rows(4000, 9, ts=T0 + 1)
    handles = []
    for _ in range(8):
        c, _ = srv.client()
        handles.append(tether.monitor("churn", stage="production", client=c, flush_interval=3600))
    threads = [threading.Thread(target=h.log, args=(data[i::8],)) for i, h in enumerate(handles)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for h in handles:
        h.close()
    assert len({h.source for h in handles}) == 8
    merged = srv.merged(T0)
    one_shot = build_summary(REF1, [{k: v for k, v in r.items() if k != "timestamp"} for r in data])
    assert merged["n"] == 4000
    assert merged["columns"]["x"]["counts"] == one_shot["columns"]["x"]["counts"]
    assert merged["columns"]["x"]["m2"] == pytest.approx(one_shot["columns"]["x"]["m2"], rel=1e-9)


def test_retryable_failures_reuse_the_idempotency_key(srv: MonitorServer) -> None:
    c, t = srv.client(max_retries=0)  # the buffer's own retry loop, not the client's
    answers = iter([error(503, "UNAVAILABLE"), None])
    srv.fail.append(lambda call: next(answers, None) if call.path.endswith("/windows") else None)
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    m.log(rows(50, 1, ts=T0))
    m.close()
    posts = [x for x in t.calls if x.path.endswith("/windows")]
    assert len(posts) == 2 and posts[0].idempotency_key == posts[1].idempotency_key
    assert m.stats["retries"] == 1 and srv.windows[(T0, "s")]["summary"]["n"] == 50


def test_stale_reference_refetches_and_rebins_the_retained_rows(srv: MonitorServer) -> None:
    c, t = srv.client()
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    data = rows(800, 4, ts=T0 + 3)
    m.log(data)
    srv.refs[2], srv.current = REF2, 2  # a new version was promoted: new bin edges
    m.flush()
    m.close()
    posts = [x for x in t.calls if x.path.endswith("/windows")]
    assert [p.body["reference_id"] for p in posts] == [1, 2]
    assert m.reference.reference_id == 2 and m.stats["stale"] == 1
    expected = build_summary(REF2, [{k: v for k, v in r.items() if k != "timestamp"} for r in data])
    assert srv.windows[(T0, "s")]["summary"]["columns"]["x"]["counts"] == expected["columns"]["x"]["counts"]
    assert build_summary(REF1, data)["columns"]["x"]["counts"] != expected["columns"]["x"]["counts"]


def test_stale_window_without_retained_rows_is_dropped_and_later_rows_use_a_new_source(
    srv: MonitorServer,
) -> None:
    c, _ = srv.client()
    m = tether.monitor(
        "churn", stage="production", client=c, source="s", flush_interval=3600, max_retained_rows=100
    )
    m.log(rows(300, 1, ts=T0))  # more rows than may be retained: this window cannot be re-binned
    srv.refs[2], srv.current = REF2, 2
    m.flush()
    assert m.stats["dropped_windows"] == 1 and (T0, "s") not in srv.windows
    m.log(rows(20, 2, ts=T0 + 9))
    m.close()
    (key,) = srv.windows
    assert key[0] == T0 and key[1] == "s~1" and srv.windows[key]["summary"]["n"] == 20


def test_other_errors_are_raised_by_the_next_call(srv: MonitorServer) -> None:
    c, _ = srv.client()
    srv.fail.append(
        lambda call: error(403, "PERMISSION_DENIED", "no") if call.path.endswith("/windows") else None
    )
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    m.log(rows(5, 1, ts=T0))
    with pytest.raises(tether.PermissionDeniedError):
        m.flush()
    m.flush()  # raised once; the window was given up on
    m.close()


def test_log_labels_pairs_and_per_window_performance(srv: MonitorServer) -> None:
    c, t = srv.client()
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    assert m.log_labels([("p1", 1), {"prediction_id": 2, "label": 0}]) == 2
    assert m.log_labels({"p3": 1}) == 1
    assert srv.labels == [
        {"prediction_id": "p1", "label": 1},
        {"prediction_id": "2", "label": 0},
        {"prediction_id": "p3", "label": 1},
    ]
    rng = random.Random(3)
    y = [rng.randint(0, 1) for _ in range(400)]
    s = [min(1.0, max(0.0, v * 0.6 + rng.random() * 0.5)) for v in y]
    m.log_labels(y_true=y[:250], y_score=s[:250], timestamp=T0 + 5)
    m.log_labels(y_true=y[250:], y_score=s[250:], timestamp=T0 + H - 1)
    m.close()
    got = srv.perf[(T0, "s")]["performance"]
    assert got == binary_summary(y, s)
    with pytest.raises(TypeError):
        m.log_labels()


def test_regression_metric_uses_regression_summaries(srv: MonitorServer) -> None:
    srv.monitor["metric"] = "rmse"
    c, _ = srv.client()
    m = tether.monitor("churn", stage="production", client=c, source="s", flush_interval=3600)
    m.log_labels(y_true=[1.0, 2.0, 4.0], y_pred=[1.5, 2.0, 3.0], timestamp=T0)
    m.close()
    got = srv.perf[(T0, "s")]["performance"]
    want = regression_summary([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert got["n"] == 3 and got["sum_sq_err"] == pytest.approx(want["sum_sq_err"])


def test_frames_of_every_kind_give_the_same_windows(srv: MonitorServer) -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    data = rows(600, 5, ts=T0 + H - 300)  # straddles two windows
    expected = {}
    for start in (T0, T0 + H):
        part = [
            {k: v for k, v in r.items() if k != "timestamp"}
            for r in data
            if r["timestamp"] - r["timestamp"] % H == start
        ]
        expected[start] = build_summary(REF1, part)
    df = pd.DataFrame(data)
    frames: list[Any] = [data, df, pa.Table.from_pandas(df, preserve_index=False)]
    dated = df.assign(timestamp=pd.to_datetime(df["timestamp"], unit="ms", utc=True))
    frames += [dated, pa.Table.from_pandas(dated, preserve_index=False)]
    try:
        import polars as pl

        frames.append(pl.from_pandas(df))
    except ImportError:
        pass
    for i, frame in enumerate(frames):
        c, _ = srv.client()
        m = tether.monitor("churn", stage="production", client=c, source=f"f{i}", flush_interval=3600)
        m.log(frame)
        m.close()
        for start, want in expected.items():
            got = srv.windows[(start, f"f{i}")]["summary"]
            assert got["n"] == want["n"], (i, start)
            assert got["columns"]["x"]["counts"] == want["columns"]["x"]["counts"], i
            assert got["columns"]["c"]["counts"] == want["columns"]["c"]["counts"], i
            assert got["unexpected_columns"] == {}


def test_find_errors_and_bad_input(srv: MonitorServer) -> None:
    c, _ = srv.client()
    with pytest.raises(tether.NotFoundError, match="no monitor"):
        tether.monitor("churn", stage="staging", client=c)
    with pytest.raises(ValueError, match="exactly one"):
        c.monitors.find("churn", stage="production", alias="champion")
    with pytest.raises(TypeError, match="unknown monitor settings"):
        c.monitors.create("m", model="churn", stage="production", windows=3)
    m = tether.monitor("churn", alias=None, stage="production", client=c, flush_interval=3600)
    with pytest.raises(TypeError, match="list of dicts"):
        m.log(42)
    with pytest.raises(ValueError, match="ISO-8601"):
        m.log([{"x": 1.0, "timestamp": "yesterday"}])
    m.close()
    with pytest.raises(tether.TetherError, match="closed"):
        m.log(rows(1, 1))


def test_create_sends_the_contract_body() -> None:
    seen: list[Call] = []

    def handler(call: Call) -> Any:
        seen.append(call)
        return reply(
            201, {"id": 3, "name": call.body["name"], "model": "churn", "alias": "champion", "future": 1}
        )

    c = tether.Client("http://x", token="t", transport=FakeTransport(handler))
    info = c.monitors.create("m", model="churn", alias="champion", metric="f1", window_seconds=600)
    assert seen[0].body == {
        "name": "m",
        "model": "churn",
        "alias": "champion",
        "metric": "f1",
        "window_seconds": 600,
    }
    assert info.id == 3 and info.alias == "champion" and info.extra == {"future": 1}


def test_import_does_not_load_numpy_or_pandas() -> None:
    code = "import sys, tether; tether.monitor; bad = [m for m in ('numpy', 'pandas', 'pyarrow', 'polars') if m in sys.modules]; assert not bad, bad"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(CLIENT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_logging_without_numpy_uses_the_pure_python_path() -> None:
    """The monitoring extra is optional: a list of dicts is binned and posted with numpy blocked."""
    code = r"""
import sys
sys.modules['numpy'] = None
import tether
from tests.client.fakes import FakeTransport
from tests.client.test_monitor_sdk import MonitorServer, rows, T0
srv = MonitorServer()
c, _ = srv.client()
m = tether.monitor('churn', stage='production', client=c, source='s', flush_interval=3600)
m.log(rows(100, 1, ts=T0))
m.close()
assert srv.windows[(T0, 's')]['summary']['n'] == 100
"""
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": f"{CLIENT_DIR}:{root}"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=False
    )
    if "No module named" in out.stderr and re.search(r"hypothesis|pytest", out.stderr):
        pytest.skip("test modules need their deps")
    assert out.returncode == 0, out.stderr
