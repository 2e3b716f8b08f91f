"""A/B test speed (issue 12 targets), all four in ``python -m bench.run --only abtests``:

- SDK assignment ``test.assign(unit)`` in-process (the test fetched from the real server with
  ``Client().ab_tests.get``): ≥ 1,000,000 assignments/s, judged on this process's CPU time (the
  wall rate is in the notes: on the shared 2-core host it mostly measures the other jobs);
- REST assignment ``GET /ab-tests/{id}/assign?unit=``: p50 ≤ 2 ms, sequential on one keep-alive
  connection from ``wrk`` (``assign.lua``): the REST route serves callers that do not run the
  Python SDK (which assigns locally, above), and a Python ``requests`` client alone spends 1.0-1.5
  ms of CPU per GET on this host, as much as the server. The same GETs from ``requests`` (which
  also check the first 200 answers against the SDK) are an informational row;
- outcome windows ``POST /ab-tests/{id}/outcomes`` (one arm's primary and guardrail windows per
  post, idempotent upserts): ≥ 500 posts/s, driven by ``wrk`` (``outcome_post.lua``, the window-post
  row's harness and reasons: the target is the server's intake, and Python producers on the same two
  cores spend more CPU per post than the server does); the same posts from 8 Python threads are an
  informational row;
- results of a running test ``GET /ab-tests/{id}/results`` with 200 windows per arm and 2,000 raw
  units: p50 ≤ 20 ms.

Setup (not timed): a model with v1 in Production (the four-eyes path) and v2 under alias
``challenger``, one 50/50 test on a proportion metric with a latency guardrail.
Run: ``.venv/bin/python -m bench.run --only abtests`` (``--quick`` takes fewer samples).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from . import Context, Row, _wrk, fmt_ms, percentile

THREADS = 8
_WRK_SCRIPT = Path(__file__).with_name("outcome_post.lua")
_WRK_ASSIGN = Path(__file__).with_name("assign.lua")


def _setup(ctx: Context) -> tuple[int, str]:
    _wid, wtok = ctx.user("writer")
    rid, rtok = ctx.user("reviewer")
    w, r = ctx.http(wtok), ctx.http(rtok)
    run_id = ctx.create_run(w, ctx.experiment("abtests", wtok), "fit")
    w.put(ctx.url(f"/runs/{run_id}/artifacts/model/w.bin"), data=b"\x01" * 1024,
          headers={"Content-Type": "application/octet-stream"}).raise_for_status()  # fmt: skip
    name = f"ab-bench-{random.randrange(10**9)}"
    w.post(ctx.url("/models"), json={"name": name}).raise_for_status()
    mid = w.get(ctx.url(f"/models/{name}")).json()["id"]
    w.put(ctx.url("/permissions"), json={"user_id": rid, "resource_type": "model", "resource_id": str(mid),
                                         "level": "READ"}).raise_for_status()  # fmt: skip
    for _ in range(2):
        w.post(
            ctx.url(f"/models/{name}/versions"), json={"run_id": run_id, "artifact_path": "model"}
        ).raise_for_status()
    req = w.post(ctx.url(f"/models/{name}/versions/1/transition-requests"), json={"to_stage": "Production"})
    req.raise_for_status()
    r.post(ctx.url(f"/transition-requests/{req.json()['id']}/approve"),
           json={"comment": "bench"}).raise_for_status()  # fmt: skip
    w.put(ctx.url(f"/models/{name}/aliases/challenger"), json={"version": 2}).raise_for_status()
    t = w.post(ctx.url("/ab-tests"), json={
        "model": name, "name": "bench", "control": "Production", "treatments": ["challenger"],
        "traffic": [0.5, 0.5], "metric": "conversion", "metric_type": "proportion",
        "guardrails": [{"metric": "latency_ms", "metric_type": "mean", "direction": "lower", "margin": 5}],
        "min_units": 10**8,  # keep it running: the bench measures looks, not a decision
    })  # fmt: skip
    t.raise_for_status()
    return t.json()["id"], wtok


def _window(arm: str, k: int, rng: random.Random) -> list[dict]:  # type: ignore[type-arg]
    n = 500
    return [
        {"arm": arm, "window_start": k * 60_000, "source": "bench", "n": n, "successes": rng.randint(40, 60)},
        {"arm": arm, "metric": "latency_ms", "window_start": k * 60_000, "source": "bench", "n": n,
         "sum": 100.0 * n, "sum_sq": 100.0**2 * n + 25.0 * (n - 1), "events": n},
    ]  # fmt: skip


def _sdk_rate(ctx: Context, tid: int, tok: str, units: int) -> tuple[float, float, list[int]]:
    """(CPU assignments/s, wall assignments/s), best of 5, of ``test.assign`` on ``units`` ids."""
    from tether import Client

    test = Client(ctx.base_url, token=tok).ab_tests.get(tid)
    ids = [f"user-{i}" for i in range(units)]
    assign = test.assign
    cpu = wall = float("inf")
    for _ in range(5):
        c, w = time.process_time(), time.perf_counter()
        for u in ids:
            assign(u)
        cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
    return units / max(cpu, 1e-9), units / wall, [test.arms.index(test.assign(u)) for u in ids[:200]]


def _wrk_assign(ctx: Context, tid: int, tok: str) -> Row:
    """The target row: ``wrk`` on one keep-alive connection, sequential GETs (``assign.lua``, a new
    unit each); the median of the trials' p50s."""
    name = "abtests: REST assign p50"
    if not _wrk.available():
        return _wrk.missing(name, "≤ 2 ms")
    trials, limit_s, _n = _wrk.trial_limits(ctx.quick)
    runs = [
        _wrk.run(
            ctx.base_url,
            _WRK_ASSIGN,
            {"TOKEN": tok, "ASSIGN_PATH": f"/api/v1/ab-tests/{tid}/assign", "PREFIX": f"wrk{trial}"},
            limit_s,
            ctx.server.cpu,
            threads=1,
            connections=1,
            latency=True,
        )  # fmt: skip
        for trial in range(trials)
    ]
    p50s = [r.latency["50"] for r in runs]
    p99 = percentile([r.latency.get("99", float("nan")) for r in runs], 50)
    cpu = percentile([r.cpu_per_request for r in runs], 50)
    p50 = percentile(p50s, 50)
    return Row(name, "≤ 2 ms", fmt_ms(p50), p50 <= 0.002,
               f"median of {trials} trials' p50 ({', '.join(fmt_ms(x) for x in p50s)}); p99 {fmt_ms(p99)}; "
               f"server CPU {fmt_ms(cpu)}/request; {sum(r.requests for r in runs)} sequential GETs from wrk on one "
               "keep-alive connection, a new unit each")  # fmt: skip


def _wrk_outcomes(ctx: Context, tid: int, tok: str) -> Row:
    """The target row: ``wrk`` posting one arm's two windows per request (``outcome_post.lua``),
    the median of the window-post row's trials."""
    name = "abtests: outcome window posts"
    if not _wrk.available():
        return _wrk.missing(name, "≥ 500/s")
    path = f"/api/v1/ab-tests/{tid}/outcomes"
    s = ctx.http(tok)

    def check() -> str:
        r = s.post(ctx.base_url + path, json={"windows": _window("control", 0, random.Random(0))})
        return f"{r.status_code} {r.text[:300]}"

    env = {"TOKEN": tok, "ARMS": "control,challenger", "WINDOWS": "200", "PREFIX": "wrk"}
    rates, cpus, total = _wrk.trials(ctx, ctx.base_url, path, _WRK_SCRIPT, env, ctx.server.cpu, check)
    rate = percentile(rates, 50)
    return Row(name, "≥ 500/s", f"{rate:.0f}/s", rate >= 500,
               f"{_wrk.trials_note(rates, cpus, total)}; wrk, {_wrk.THREADS} threads, {_wrk.CONNECTIONS} keep-alive "
               "connections, each post one arm's primary + guardrail window (200 windows per arm, re-posted)")  # fmt: skip


def run(ctx: Context) -> list[Row]:
    samples = 500 if ctx.quick else 2000
    tid, tok = _setup(ctx)
    sdk_cpu, sdk_wall, sdk_arms = _sdk_rate(ctx, tid, tok, 50_000 if ctx.quick else 200_000)
    s = ctx.http(tok)
    url = ctx.url(f"/ab-tests/{tid}")
    for i in range(50):
        s.get(url + "/assign", params={"unit": f"warm-{i}"}).raise_for_status()
    times = []
    cpu0 = ctx.server.cpu()
    for i in range(samples):
        t0 = time.perf_counter()
        resp = s.get(url + "/assign", params={"unit": f"user-{i}"})
        times.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text
        if i < len(sdk_arms):  # the SDK and the REST call agree
            assert resp.json()["assigned_arm"] == ("control", "challenger")[sdk_arms[i]], resp.text
    p50_assign = percentile(times, 50)
    cpu_assign = (ctx.server.cpu() - cpu0) / samples
    assign_row = _wrk_assign(ctx, tid, tok)

    posts = 400 if ctx.quick else 2000
    per_thread = posts // THREADS
    errors: list[str] = []

    def poster(t: int) -> None:
        rng = random.Random(t)
        hs = ctx.http(tok)
        for k in range(per_thread):
            arm = "control" if k % 2 == 0 else "challenger"
            resp = hs.post(
                url + "/outcomes", json={"windows": _window(arm, (t * per_thread + k) // 2 % 200, rng)}
            )
            if resp.status_code != 200:
                errors.append(resp.text[:200])

    threads = [threading.Thread(target=poster, args=(t,)) for t in range(THREADS)]
    cpu0 = ctx.server.cpu()
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rate = THREADS * per_thread / (time.perf_counter() - t0)
    cpu_post = (ctx.server.cpu() - cpu0) / (THREADS * per_thread)
    if errors:
        raise RuntimeError(f"{len(errors)} outcome posts failed: {errors[0]}")
    wrk_row = _wrk_outcomes(ctx, tid, tok)
    rows = [{"unit": f"raw-{i}", "value": i % 7 == 0} for i in range(2000)]
    s.post(url + "/outcomes", json={"rows": [{"unit": r["unit"], "value": int(r["value"])} for r in rows]},
           headers={"Idempotency-Key": f"bench-{tid}"}).raise_for_status()  # fmt: skip
    res_times = []
    cpu0 = ctx.server.cpu()
    for _ in range(samples // 4):
        t0 = time.perf_counter()
        resp = s.get(url + "/results")
        res_times.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text
    body = resp.json()
    cpu_res = (ctx.server.cpu() - cpu0) / len(res_times)
    p50_res = percentile(res_times, 50)
    return [
        Row("abtests: SDK test.assign (in-process)", "≥ 1,000,000/s", f"{sdk_cpu:,.0f}/s", sdk_cpu >= 1_000_000,
            f"CPU-time rate, best of 5; wall {sdk_wall:,.0f}/s"),
        assign_row,
        Row("  REST assign p50 from Python requests (info)", "", fmt_ms(p50_assign), None,
            f"p95 {fmt_ms(percentile(times, 95))}; server CPU {fmt_ms(cpu_assign)}/request; {samples} sequential "
            "GETs, keep-alive; the first 200 answers match the SDK's arms"),
        wrk_row,
        Row("  outcome posts from 8 Python producers (info)", "", f"{rate:.0f}/s", None,
            f"server CPU {fmt_ms(cpu_post)}/post; {THREADS * per_thread} posts (primary + guardrail window), "
            f"{THREADS} threads with requests; the producers' own CPU comes out of the server's two cores"),
        Row("abtests: results p50 (running test)", "≤ 20 ms", fmt_ms(p50_res), p50_res <= 0.020,
            f"p95 {fmt_ms(percentile(res_times, 95))}; server CPU {fmt_ms(cpu_res)}/request; "
            f"{len(body['history'])} history points, "
            f"n = {[a['n'] for a in body['arms']]}"),
    ]  # fmt: skip
