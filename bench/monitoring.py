"""Production monitoring speed against a real gunicorn server (issue 11 targets):

- window summaries with 50 columns, ``POST /monitors/{id}/windows``: ≥ 500 posts/s into one
  server, driven by ``wrk`` (2 threads, 8 keep-alive connections, ``window_post.lua``: each post
  a new (window, source) of one pre-serialised summary; the median of 3 trials of 4 s). 8 Python
  producers with the SDK's transport on the same 2 cores are an informational row;
- raw rows binned by the server, ``POST /monitors/{id}/rows`` with 10,000 rows of 10 numeric
  columns per request: ≥ 100,000 rows/s (2 client threads, bodies pre-serialised);
- the monitor page's data for 30 days of hourly windows x 50 columns (720 windows, evaluated by
  ``tether monitors evaluate`` as the background worker would): the four requests the page
  script makes (monitor, drift, performance, alerts), sequentially, p50 ≤ 150 ms;
- SDK-side binning, ``tether.monitoring.build_summary`` with numpy on 1,000,000 rows x 10 numeric
  columns (in the bench process, no server): ≥ 1,000,000 rows/s.

Setup over HTTP (not timed): a writer logs a profiled training dataset (50 numeric columns) on a
run, registers a version, a reviewer approves it into Production, and the writer creates three
monitors on it (posts, rows on ``c0..c9``, page).
Run: ``.venv/bin/python -m bench.run --only monitoring`` (``--quick`` takes fewer samples).
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

from . import Context, Row, _wrk, fmt_ms, percentile
from ._server import echo_server

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC: every window is in the past, so it closes
COLUMNS = 50
RAW_COLUMNS = 10
PAGE_WINDOWS = 720  # 30 days of hourly windows
POST_THREADS = 8
ROW_THREADS = 2


def profile(rng: np.random.Generator, cols: int = COLUMNS, m: int = 20_000) -> dict[str, Any]:
    """A tether.profile/1 of ``cols`` normal columns with the profile's decile rule."""
    out = {}
    for j in range(cols):
        x = np.sort(rng.normal(j, 1.0 + j / 50, m))
        edges = np.quantile(x, np.arange(1, 10) / 10).tolist()
        out[f"c{j}"] = {
            "kind": "numeric",
            "type": "float",
            "count": m,
            "nulls": 0,
            "mean": float(x.mean()),
            "m2": float(((x - x.mean()) ** 2).sum()),
            "min": float(x[0]),
            "max": float(x[-1]),
            "bin_edges": edges,
            "bin_counts": np.bincount(np.searchsorted(edges, x, side="right"), minlength=10).tolist(),
        }
    return {"format": "tether.profile/1", "rows": m, "columns": out}


def _ok(resp: requests.Response) -> dict[str, Any]:
    if resp.status_code >= 300:
        raise RuntimeError(f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text[:300]}")
    return resp.json() if resp.content else {}


def _setup(ctx: Context, prof: dict[str, Any]) -> tuple[str, str]:
    """A model whose Production version was trained on a dataset profiled as ``prof``."""
    _wid, wtok = ctx.user("writer")
    rid, rtok = ctx.user("reviewer")
    w, r = ctx.http(wtok), ctx.http(rtok)
    run_id = ctx.create_run(w, ctx.experiment("monitoring", wtok), "fit")
    _ok(w.put(ctx.url(f"/runs/{run_id}/artifacts/model/w.bin"), data=b"\x01" * 1024,
              headers={"Content-Type": "application/octet-stream"}))  # fmt: skip
    digest = hashlib.sha256(str(random.random()).encode()).hexdigest()
    _ok(w.post(ctx.url(f"/runs/{run_id}/datasets"), json={
        "name": f"train-{digest[:8]}", "context": "training", "profile": prof,
        "manifest": [{"path": "train.parquet", "sha256": digest, "size": 1}],
    }))  # fmt: skip
    name = f"mon-bench-{random.randrange(10**9)}"
    _ok(w.post(ctx.url("/models"), json={"name": name}))
    mid = _ok(w.get(ctx.url(f"/models/{name}")))["id"]
    _ok(w.put(ctx.url("/permissions"), json={"user_id": rid, "resource_type": "model",
                                             "resource_id": str(mid), "level": "READ"}))  # fmt: skip
    _ok(w.post(ctx.url(f"/models/{name}/versions"), json={"run_id": run_id, "artifact_path": "model"}))
    req = _ok(
        w.post(ctx.url(f"/models/{name}/versions/1/transition-requests"), json={"to_stage": "Production"})
    )
    _ok(r.post(ctx.url(f"/transition-requests/{req['id']}/approve"), json={"comment": "bench"}))
    return name, wtok


def _monitor(ctx: Context, tok: str, model: str, name: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    s = ctx.http(tok)
    m = _ok(s.post(ctx.url("/monitors"), json={"name": name, "model": model, "stage": "production", **extra}))
    return int(m["id"]), _ok(s.get(ctx.url(f"/monitors/{m['id']}/reference")))


def _parallel(n_threads: int, work: Callable[[int, Any, list[str]], int],
              session: Callable[[], Any]) -> tuple[int, float]:  # fmt: skip
    """Run ``work(thread, session, errors) -> items`` in threads, each with its own ``session()``
    (anything with ``post(url, data=...)`` answering ``status_code`` and ``text``); (items, seconds)."""
    errors: list[str] = []
    done = [0] * n_threads

    def body(t: int) -> None:
        done[t] = work(t, session(), errors)

    threads = [threading.Thread(target=body, args=(t,)) for t in range(n_threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[0]}")
    return sum(done), seconds


class _SdkSession:
    """The producer row's client: the SDK's own transport (``tether._transport.RequestsTransport``,
    what ``tether.monitoring``'s producer posts through), one per thread as one per replica, with
    the bench session's headers; bodies are the pre-serialised posts."""

    def __init__(self, headers: dict[str, str]) -> None:
        from tether._transport import RequestsTransport

        self.headers, self.transport = headers, RequestsTransport(pool_size=1)

    def post(self, url: str, data: bytes) -> Any:
        r = self.transport.request("POST", url, headers=self.headers, params=None, content=data, timeout=60)
        return _Answer(r.status_code, r.content[:200].decode("utf-8", "replace"))


class _Answer:
    """What the post loops read of an answer (``requests.Response`` has the same two)."""

    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text


def _post_trials(ctx: Context, url: str, sessions: Callable[[], Any], body: Callable[[int, int, int], bytes],
                 cpu: Callable[[], float]) -> tuple[list[float], list[float], int]:  # fmt: skip
    """Timed trials of ``POST_THREADS`` Python threads posting ``body(trial, thread, k)`` to
    ``url``: (rates, server CPU seconds per post, posts)."""
    trials, limit_s, limit_n = _wrk.trial_limits(ctx.quick)
    per = limit_n // POST_THREADS
    rates, cpus, total = [], [], 0
    for trial in range(trials):

        def work(t: int, s: Any, errors: list[str], trial: int = trial) -> int:
            deadline, k = time.perf_counter() + limit_s, 0
            while k < per and time.perf_counter() < deadline:
                resp = s.post(url, data=body(trial, t, k))
                if resp.status_code != 200:
                    errors.append(f"{resp.status_code} {resp.text[:200]}")
                    return k
                k += 1
            return k

        cpu0 = cpu()
        n, secs = _parallel(POST_THREADS, work, sessions)
        cpus.append((cpu() - cpu0) / max(n, 1))
        rates.append(n / secs)
        total += n
    return rates, cpus, total


_WRK_SCRIPT = Path(__file__).with_name("window_post.lua")


def _window_posts(
    ctx: Context, tok: str, mid: int, ref: dict[str, Any], summary: dict[str, Any]
) -> list[Row]:
    """The target row: the server's intake, driven by ``wrk`` (a native load generator, so the
    client takes little of the two cores the server runs on). Then two informational rows: the
    same posts from 8 Python producers with the SDK's transport on the same cores, and the
    harness ceiling (``wrk`` and the same bodies against a bare Flask app under the same gunicorn
    options, ``bench._echo_app``). Each is the median of ``_wrk.TRIALS`` trials: on this shared
    2-core host one trial swings by ±25% (an evaluator pass of the server over the windows just
    posted, or the host's own load, can land in any one of them)."""
    path = f"/api/v1/monitors/{mid}/windows"
    url = ctx.base_url + path
    body = {"reference_id": ref["reference_id"], "source": "", "window_start": 0, "summary": summary}
    warm = ctx.http(tok)
    for i in range(2 * POST_THREADS):
        _ok(warm.post(url, data=orjson.dumps({**body, "source": f"warm-{i}", "window_start": T0})))
    # pre-serialised: the summary is encoded once, only the window and source change per post
    head, tail = orjson.dumps(summary), ref["reference_id"]
    size = f"{len(head) // 1024} KiB summary"
    summary_file = Path(ctx.data_dir) / "bench-window-summary.json"
    summary_file.write_bytes(head)
    # what window_post.lua reads (_wrk.trials adds POST_PATH and a PREFIX per trial)
    env = {"BODY_FILE": str(summary_file), "REF_ID": str(tail), "TOKEN": tok, "T0": str(T0),
           "WINDOWS": str(PAGE_WINDOWS), "PREFIX": "wrk"}  # fmt: skip

    def check() -> str:
        one = orjson.dumps({**body, "source": "check", "window_start": T0})
        r = warm.post(url, data=one)
        return f"{r.status_code} {r.text[:300]}"

    rows = []
    have_wrk = _wrk.available()
    if not have_wrk:
        rows.append(_wrk.missing("monitoring: window posts (50 columns)", "≥ 500/s"))
    else:
        rates, cpus, total = _wrk.trials(ctx, ctx.base_url, path, _WRK_SCRIPT, env, ctx.server.cpu, check)
        rate = percentile(rates, 50)
        rows.append(Row("monitoring: window posts (50 columns)", "≥ 500/s", f"{rate:.0f}/s", rate >= 500,
                        f"{_wrk.trials_note(rates, cpus, total)}; wrk, {_wrk.THREADS} threads, {_wrk.CONNECTIONS} "
                        f"keep-alive connections, each post a new (window, source); {size}"))  # fmt: skip
    per = _wrk.trial_limits(ctx.quick)[2] // POST_THREADS

    def post_body(trial: int, t: int, k: int) -> bytes:
        ws = T0 + ((t * per + k) % PAGE_WINDOWS) * HOUR
        return b'{"reference_id":%d,"window_start":%d,"source":"pod-%d-%d-%d","summary":%s}' % (
            tail, ws, trial, t, k, head)  # fmt: skip

    headers = {**ctx.http(tok).headers, "Content-Type": "application/json"}
    sdk = _post_trials(ctx, url, lambda: _SdkSession(headers), post_body, ctx.server.cpu)
    rows.append(Row("  8 Python producers on the same cores (info)", "", f"{percentile(sdk[0], 50):.0f}/s", None,
                    f"{_wrk.trials_note(*sdk)}; {POST_THREADS} threads, each with the SDK's transport; the "
                    "producers' own CPU comes out of the server's two cores"))  # fmt: skip
    if have_wrk:
        rows.append(_echo_ceiling(ctx, env))
    return rows


def _echo_ceiling(ctx: Context, env: dict[str, str]) -> Row:
    """wrk and the same bodies to ``bench._echo_app`` under tether's gunicorn options."""
    with echo_server() as (base, cpu):
        rates, cpus, total = _wrk.trials(
            ctx, base, "/echo", _WRK_SCRIPT, {**env, "PREFIX": "echo"}, cpu, lambda: "(echo app)"
        )
    return Row("  harness ceiling: bare Flask echo app (info)", "", f"{percentile(rates, 50):.0f}/s", None,
               f"{_wrk.trials_note(rates, cpus, total)}; the target row's wrk and bodies to a Flask app that only "
               "parses the JSON, under the same gunicorn options: what the HTTP stack and harness carry here")  # fmt: skip


def _raw_bodies(rng: np.random.Generator, column_wise: bool) -> list[bytes]:
    """Four windows' worth of 10,000 rows x 10 numeric columns + ``timestamp``, pre-serialised:
    ``{"columns": {name: [values]}}`` (what the SDK sends for columns) or ``{"rows": [{...}]}``."""
    bodies = []
    for k in range(4):  # four windows' worth of rows, reused round-robin
        x = rng.normal(np.arange(RAW_COLUMNS), 1.0, (10_000, RAW_COLUMNS))
        ts = T0 + k * HOUR + np.sort(rng.integers(0, HOUR, 10_000))
        if column_wise:
            cols: dict[str, Any] = {f"c{j}": x[:, j].tolist() for j in range(RAW_COLUMNS)}
            cols["timestamp"] = ts.tolist()
            bodies.append(orjson.dumps({"columns": cols}))
            continue
        rows = [
            {**{f"c{j}": v for j, v in enumerate(r)}, "timestamp": int(t)}
            for r, t in zip(x.tolist(), ts, strict=True)
        ]
        bodies.append(orjson.dumps({"rows": rows}))
    return bodies


def _raw_rows(ctx: Context, tok: str, mid: int, column_wise: bool = True) -> Row:
    limit_s, limit_n = (3.0, 10) if ctx.quick else (6.0, 60)
    url = ctx.url(f"/monitors/{mid}/rows")
    bodies = _raw_bodies(np.random.default_rng(2), column_wise)
    warm = ctx.http(tok)
    _ok(warm.post(url, data=bodies[0]))
    per = limit_n // ROW_THREADS

    def work(t: int, s: requests.Session, errors: list[str]) -> int:
        deadline, k = time.perf_counter() + limit_s, 0
        while k < per and time.perf_counter() < deadline:
            resp = s.post(url, data=bodies[(t + k) % len(bodies)])
            if resp.status_code != 200 or resp.json()["rows"] != 10_000:
                errors.append(f"{resp.status_code} {resp.text[:200]}")
                return k
            k += 1
        return k * 10_000

    cpu0 = ctx.server.cpu()
    n, secs = _parallel(ROW_THREADS, work, lambda: ctx.http(tok))
    cpu = (ctx.server.cpu() - cpu0) / max(n // 10_000, 1)
    rate = n / secs
    form = 'column-wise {"columns": {...}}' if column_wise else 'row-wise {"rows": [...]}'
    notes = (f"{n // 10_000} requests of 10,000 rows x {RAW_COLUMNS} numeric columns, {form}, "
             f"{ROW_THREADS} threads, {len(bodies[0]) // 1024} KiB each; server CPU {fmt_ms(cpu)}/request")  # fmt: skip
    if not column_wise:
        return Row("monitoring: raw rows, row-wise body", "info", f"{rate:,.0f} rows/s", None, notes)
    return Row("monitoring: raw rows binned by the server", "≥ 100,000 rows/s", f"{rate:,.0f} rows/s",
               rate >= 100_000, notes)  # fmt: skip


def _evaluate(ctx: Context, mid: int) -> None:
    """One evaluator pass over the page monitor, as the server's background worker would run it."""
    from ._server import TETHER

    env = ctx.server.env()
    env["TETHER_DATABASE_URL"] = ctx.database_url
    out = subprocess.run([str(TETHER), "monitors", "evaluate", "--monitor", str(mid)], env=env,
                         capture_output=True, text=True, timeout=600, cwd=ctx.data_dir)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"tether monitors evaluate failed: {out.stderr[-500:]}")


def _page(ctx: Context, tok: str, mid: int, ref: dict[str, Any], summary: dict[str, Any]) -> list[Row]:
    url = ctx.url(f"/monitors/{mid}")
    head = orjson.dumps(summary)

    def post(t: int, s: requests.Session, errors: list[str]) -> int:
        for k in range(t, PAGE_WINDOWS, POST_THREADS):
            data = b'{"reference_id":%d,"window_start":%d,"source":"pod","summary":%s}' % (
                ref["reference_id"], T0 + k * HOUR, head)  # fmt: skip
            resp = s.post(url + "/windows", data=data)
            if resp.status_code != 200:
                errors.append(resp.text[:200])
                return 0
        return 1

    _parallel(POST_THREADS, post, lambda: ctx.http(tok))
    t0 = time.perf_counter()
    _evaluate(ctx, mid)
    eval_s = time.perf_counter() - t0
    s = ctx.http(tok)
    rng = f"?from={T0}&to={T0 + PAGE_WINDOWS * HOUR}"
    paths = [
        url,
        url + "/drift" + rng + "&view=cells",  # as the page script asks (the heatmap's cells)
        url + "/performance" + rng,
        ctx.url(f"/alerts?monitor={mid}&max_results=200"),
    ]
    for p in paths:
        _ok(s.get(p))
    times, drift_times, size = [], [], 0
    for _ in range(8 if ctx.quick else 25):
        t0 = time.perf_counter()
        resps = [s.get(p) for p in paths]
        times.append(time.perf_counter() - t0)
        drift_times.append(resps[1].elapsed.total_seconds())
        for r in resps:
            _ok(r)
        body = resps[1].json()
        if len(body["windows"]) != PAGE_WINDOWS or len(body["windows"][0]["columns"]) != COLUMNS:
            raise RuntimeError("the drift answer does not hold 720 windows x 50 columns")
        if any(w["partial"] for w in body["windows"]):
            raise RuntimeError("windows of 2026-01 are still partial after the evaluator pass")
        size = len(resps[1].content)
    p50 = percentile(times, 50)
    return [
        Row("monitoring: page data p50 (720 windows x 50 columns)", "≤ 150 ms", fmt_ms(p50), p50 <= 0.150,
            f"monitor + drift + performance + alerts, sequential; p95 {fmt_ms(percentile(times, 95))}; "
            f"drift alone p50 {fmt_ms(percentile(drift_times, 50))}, {size // 1024} KiB"),
        Row("monitoring: evaluator pass over 720 new windows", "info", f"{eval_s:.1f} s", None,
            "tether monitors evaluate (process start included)"),
    ]  # fmt: skip


def _sdk(ctx: Context) -> Row:
    from tether.monitoring import build_summary

    rng = np.random.default_rng(3)
    n = 1_000_000
    prof = profile(rng, RAW_COLUMNS, 100_000)
    data = {f"c{j}": rng.normal(j + 0.1, 1.0, n) for j in range(RAW_COLUMNS)}
    data["c3"][rng.random(n) < 0.01] = np.nan
    build_summary(prof, {k: v[:1000] for k, v in data.items()})
    best = min(_timed(lambda: build_summary(prof, data)) for _ in range(2 if ctx.quick else 4))
    rate = n / best
    return Row("monitoring: SDK binning with numpy", "≥ 1,000,000 rows/s", f"{rate:,.0f} rows/s",
               rate >= 1_000_000, f"build_summary, dict of float64 arrays, {n:,} rows x {RAW_COLUMNS} "
               "columns, best of the repeats, in the bench process")  # fmt: skip


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(ctx: Context) -> list[Row]:
    rng = np.random.default_rng(1)
    prof = profile(rng)
    model, tok = _setup(ctx, prof)
    mid_posts, ref_posts = _monitor(ctx, tok, model, "posts")
    mid_rows, _ = _monitor(ctx, tok, model, "rows", columns=[f"c{j}" for j in range(RAW_COLUMNS)])
    mid_page, ref_page = _monitor(ctx, tok, model, "page")
    from tether.monitoring import build_summary

    summary = build_summary(
        ref_posts["profile"], {f"c{j}": rng.normal(j + 0.05, 1.0 + j / 50, 2000) for j in range(COLUMNS)}
    )
    rows = _window_posts(ctx, tok, mid_posts, ref_posts, summary)
    rows.append(_raw_rows(ctx, tok, mid_rows))
    rows.append(_raw_rows(ctx, tok, mid_rows, column_wise=False))
    rows += _page(ctx, tok, mid_page, ref_page, summary)
    rows.append(_sdk(ctx))
    return rows
