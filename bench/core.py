"""Tracking-core workloads (issue 2) and the auth-overhead measurement (issue 3).

Every workload goes over HTTP to the real gunicorn server, except the 100,000-run growth,
which bulk-inserts straight into the server's database, and the auth A/B, which runs the app
in-process (the server has no "auth off" switch, by design).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from typing import Any

import orjson

from . import Context, Row, fmt_ms, percentile

THREADS = 4
BATCH = 1_000
SEARCH_FILTER = "metrics.auc > 0.9 and params.depth = '6'"
MiB = 1024 * 1024


def run(ctx: Context) -> list[Row]:
    rows = _server_rows(ctx)
    _, token = ctx.user("writer")
    rows += _guard("batch ingest", lambda: ingest(ctx, token))
    rows += _guard("single log_metric", lambda: single_log_metric(ctx, token))
    rows += _guard("10,000-step history", lambda: history(ctx, token))
    made: list[Any] = []
    rows += _guard("create runs", lambda: made.extend(create_runs(ctx, token, 5_000)) or [made[1]])
    rows += _guard(
        "create runs, two requests",
        lambda: [
            create_runs(ctx, token, 1_000, two_step=True, exp=ctx.experiment("bench-two-step", token))[1]
        ],
    )
    if made:
        exp_id = made[0]
        _analyze(ctx)
        rows += _guard(
            "search @ 5,000", lambda: [search(ctx, token, exp_id, "search p50 @ 5,000 runs", 0.008)]
        )
        if not ctx.quick:
            rows += _guard("grow to 100,000", lambda: [grow(ctx, exp_id, 100_000)])
            rows += _guard(
                "search @ 100,000", lambda: [search(ctx, token, exp_id, "search p50 @ 100,000 runs", 0.040)]
            )
    rss, pss, n = ctx.server.tree_memory()
    rows.append(
        Row(
            "RSS after workloads",
            "info",
            f"{rss / MiB:.0f} MiB",
            None,
            f"PSS {pss / MiB:.0f} MiB, {n} processes",
        )
    )
    return rows


def _guard(label: str, fn: Any) -> list[Row]:
    """Run one workload; a failure becomes a FAIL row instead of hiding the rest."""
    try:
        return list(fn())
    except Exception as e:  # noqa: BLE001 - reported in the table
        return [Row(f"{label}: error", "-", type(e).__name__, False, str(e)[:160])]


# ---------------------------------------------------------------- start-up and memory


def _server_rows(ctx: Context) -> list[Row]:
    srv = ctx.server
    fresh, warm = srv.history[0], srv.history[-1]
    rss, pss, n = srv.idle_memory
    return [
        Row(
            "start→healthy (fresh dir, migrates)",
            "≤ 2 s",
            f"{fresh:.2f} s",
            fresh <= 2.0,
            "tether server --migrate on an empty database",
        ),
        Row("restart→healthy (existing db)", "≤ 2 s", f"{warm:.2f} s", warm <= 2.0),
        Row(
            "idle RSS, whole process tree",
            "≤ 300 MiB",
            f"{rss / MiB:.0f} MiB",
            rss <= 300 * MiB,
            f"sum of VmRSS over {n} processes (master + workers); PSS {pss / MiB:.0f} MiB",
        ),
    ]


# ---------------------------------------------------------------- batch ingest


def _batch_bodies(n: int, keys: tuple[str, ...] = ("loss", "acc", "lr", "grad_norm")) -> list[bytes]:
    per_key = BATCH // len(keys)
    ts = int(time.time() * 1000)
    bodies = []
    for b in range(n):
        base = b * per_key
        pts = [
            {"key": k, "value": 1.0 / (base + s + 1), "step": base + s, "timestamp": ts + base + s}
            for k in keys
            for s in range(per_key)
        ]
        bodies.append(orjson.dumps({"metrics": pts}))
    return bodies


def _threads(target: Any, n: int = THREADS) -> tuple[float, list[Any]]:
    """Run ``target(i, barrier) -> result`` in n threads; time from the barrier to the last finish."""
    barrier = threading.Barrier(n + 1)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def wrap(i: int) -> None:
        try:
            results[i] = target(i, barrier)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()

    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    try:
        barrier.wait(timeout=300)
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"worker thread failed: {errors[0]!r}") from errors[0]
    return elapsed, results


def ingest(ctx: Context, token: str) -> list[Row]:
    seconds = 4.0 if ctx.quick else 10.0
    exp = ctx.experiment("bench-ingest", token)
    # Steps only grow, as in training; the threads share the bodies but write to their own runs.
    # 500 batches per thread bounds the loop and is 200,000 pts/s over 10 s.
    bodies = _batch_bodies(200 if ctx.quick else 500)

    def worker(i: int, barrier: threading.Barrier) -> tuple[int, list[float]]:
        s = ctx.http(token)
        s.get(ctx.url("/health")).raise_for_status()  # warm the connection
        url = ctx.url(f"/runs/{ctx.create_run(s, exp, f'ingest-{i}')}/batch")
        barrier.wait()
        deadline, points, lat = time.perf_counter() + seconds, 0, []
        for body in bodies:
            if time.perf_counter() >= deadline:
                break
            t = time.perf_counter()
            r = s.post(url, data=body)
            lat.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"batch got {r.status_code}: {r.text[:200]}")
            points += BATCH
        return points, lat

    cpu0 = ctx.server.cpu()
    elapsed, res = _threads(worker)
    cores = (ctx.server.cpu() - cpu0) / elapsed
    points = sum(p for p, _ in res)
    lat = [x for _, ls in res for x in ls]
    rate = points / elapsed
    ctx.shared["batch_mean_s"] = sum(lat) / len(lat)
    ctx.shared["batch_rate"] = rate
    ctx.shared["batch_cpu_s"] = (ctx.server.cpu() - cpu0) / len(lat)  # server CPU per batch
    return [
        Row(
            "batch ingest (4 threads × 1,000 pts)",
            "≥ 150,000 pts/s",
            f"{rate:,.0f} pts/s",
            rate >= 150_000,
            f"{len(lat)} batches in {elapsed:.1f} s; batch p50 {fmt_ms(percentile(lat, 50))}"
            f", p95 {fmt_ms(percentile(lat, 95))}; server used {cores:.2f} cores (client shares them)",
        )
    ]


# ---------------------------------------------------------------- single log_metric


def single_log_metric(ctx: Context, token: str) -> list[Row]:
    exp = ctx.experiment("bench-single", token)
    s = ctx.http(token)
    url = ctx.url(f"/runs/{ctx.create_run(s, exp, 'single')}/metrics")
    ts = int(time.time() * 1000)
    n_max = 1_000 if ctx.quick else 3_000
    bodies = [
        orjson.dumps({"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": ts + i})
        for i in range(n_max + 50)
    ]
    for b in bodies[:50]:
        s.post(url, data=b).raise_for_status()
    lat: list[float] = []
    t0 = time.perf_counter()
    for b in bodies[50:]:
        t = time.perf_counter()
        r = s.post(url, data=b)
        lat.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"log_metric got {r.status_code}: {r.text[:200]}")
        if t - t0 > 5.0:
            break
    elapsed = time.perf_counter() - t0
    rate, p50, p95 = len(lat) / elapsed, percentile(lat, 50), percentile(lat, 95)
    ctx.shared.update(single_p50_s=p50, single_rate=rate)
    return [
        Row(
            "single log_metric, sequential",
            "≥ 600 req/s",
            f"{rate:,.0f} req/s",
            rate >= 600,
            f"{len(lat)} requests, one keep-alive connection",
        ),
        Row(
            "single log_metric latency p50 / p95",
            "p50 ≤ 2 ms",
            f"{fmt_ms(p50)} / {fmt_ms(p95)}",
            p50 <= 0.002,
        ),
    ]


# ---------------------------------------------------------------- history


def history(ctx: Context, token: str) -> list[Row]:
    exp = ctx.experiment("bench-history", token)
    s = ctx.http(token)
    run_id = ctx.create_run(s, exp, "history")
    ts = int(time.time() * 1000)
    body = {
        "metrics": [
            {"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": ts + i} for i in range(10_000)
        ]
    }
    s.post(ctx.url(f"/runs/{run_id}/batch"), data=orjson.dumps(body)).raise_for_status()
    url = ctx.url(f"/runs/{run_id}/metrics/loss")
    lat, size = [], 0
    for i in range(55):
        t = time.perf_counter()
        r = s.get(url)
        dt = time.perf_counter() - t
        r.raise_for_status()
        out = orjson.loads(r.content)
        if len(out["items"]) != 10_000 or out["next_page_token"]:
            raise RuntimeError(
                f"history returned {len(out['items'])} points, token {out['next_page_token']!r}"
            )
        size = len(r.content)
        if i >= 5:
            lat.append(dt)
    p50 = percentile(lat, 50)
    return [
        Row(
            "10,000-step history, whole",
            "p50 ≤ 20 ms",
            fmt_ms(p50),
            p50 <= 0.020,
            f"50 fetches, one page of {size / 1024:.0f} KiB; p95 {fmt_ms(percentile(lat, 95))}",
        )
    ]


# ---------------------------------------------------------------- creating runs


def _run_data(rng: random.Random, ts: int) -> dict:
    params = {
        "depth": rng.choice(["4", "6", "8"]),
        "lr": str(rng.choice([0.01, 0.03, 0.1])),
        "n_estimators": str(rng.randrange(100, 1000)),
        "subsample": "0.8",
        "seed": str(rng.randrange(10**6)),
    }
    metrics = [
        {"key": k, "value": rng.random(), "step": 0, "timestamp": ts}
        for k in ("auc", "f1", "loss", "precision", "recall")
    ]
    return {"params": params, "metrics": metrics}


def create_runs(
    ctx: Context, token: str, n: int, *, two_step: bool = False, exp: int | None = None
) -> tuple[int, Row]:
    """Runs with 5 params and 5 metrics: one ``POST /runs`` carrying them (how the SDK creates a run
    with initial data), or, with ``two_step``, ``POST /runs`` then ``POST /runs/{id}/batch``."""
    exp = exp if exp is not None else ctx.experiment("bench-search", token)
    per = n // THREADS
    ts = int(time.time() * 1000)

    def worker(i: int, barrier: threading.Barrier) -> int:
        rng = random.Random(i if not two_step else 1000 + i)
        data = [_run_data(rng, ts) for _ in range(per)]
        if two_step:
            create = [orjson.dumps({"experiment_id": exp, "name": f"t{i}-{k}"}) for k in range(per)]
            batches: list[bytes | None] = [orjson.dumps(d) for d in data]
        else:
            create = [
                orjson.dumps({"experiment_id": exp, "name": f"r{i}-{k}", **d}) for k, d in enumerate(data)
            ]
            batches = [None] * per
        s = ctx.http(token)
        s.get(ctx.url("/health")).raise_for_status()
        barrier.wait()
        for c, b in zip(create, batches, strict=True):
            r = s.post(ctx.url("/runs"), data=c)
            if r.status_code != 201:
                raise RuntimeError(f"create run got {r.status_code}: {r.text[:200]}")
            if b is not None:
                r = s.post(ctx.url(f"/runs/{orjson.loads(r.content)['id']}/batch"), data=b)
                if r.status_code != 200:
                    raise RuntimeError(f"run batch got {r.status_code}: {r.text[:200]}")
        return per

    cpu0 = ctx.server.cpu()
    elapsed, res = _threads(worker)
    cores = (ctx.server.cpu() - cpu0) / elapsed
    rate = sum(res) / elapsed
    how = "POST /runs + POST batch each" if two_step else "one POST /runs with params and metrics each"
    if two_step:
        return exp, Row(
            "create runs, two requests each",
            "info",
            f"{rate:,.0f} runs/s",
            None,
            f"{sum(res)} runs in {elapsed:.1f} s, 4 threads, {how}; server used {cores:.2f} cores",
        )
    return exp, Row(
        "create runs (+5 params, 5 metrics)",
        "≥ 600 runs/s",
        f"{rate:,.0f} runs/s",
        rate >= 600,
        f"{sum(res)} runs in {elapsed:.1f} s, 4 threads, {how}; server used {cores:.2f} cores",
    )


# ---------------------------------------------------------------- search


def search_request(exp_id: int) -> dict[str, Any]:
    """The standard search: ``SEARCH_FILTER`` in one experiment, best auc first, 100 full runs."""
    return {
        "experiment_ids": [exp_id],
        "filter": SEARCH_FILTER,
        "order_by": ["metrics.auc DESC"],
        "max_results": 100,
    }


def search(ctx: Context, token: str, exp_id: int, label: str, target_s: float) -> Row:
    s = ctx.http(token)
    body = orjson.dumps(search_request(exp_id))
    lat: list[float] = []
    n_items = 0
    for i in range(105):
        t = time.perf_counter()
        r = s.post(ctx.url("/runs/search"), data=body)
        dt = time.perf_counter() - t
        if r.status_code != 200:
            raise RuntimeError(f"search got {r.status_code}: {r.text[:200]}")
        items = orjson.loads(r.content)["items"]
        n_items = len(items)
        if i == 0:
            _check_search(items)
        if i >= 5:
            lat.append(dt)
    p50 = percentile(lat, 50)
    return Row(
        label,
        f"p50 ≤ {target_s * 1000:.0f} ms",
        fmt_ms(p50),
        p50 <= target_s,
        f"100 queries, {n_items} runs/page; p95 {fmt_ms(percentile(lat, 95))}; PostgreSQL ANALYZEd first",
    )


def _check_search(items: list[dict[str, Any]]) -> None:
    if not items:
        raise RuntimeError("search returned no runs; the workload is wrong")
    aucs = [it["metrics"]["auc"]["value"] for it in items]
    if (
        any(a <= 0.9 for a in aucs)
        or aucs != sorted(aucs, reverse=True)
        or any(it["params"]["depth"] != "6" for it in items)
    ):
        raise RuntimeError("search returned runs that do not match the filter/order")


def insert_runs(engine: Any, exp_id: int, uid: int, n: int) -> None:
    """``n`` runs (5 params + 5 latest metrics each, seeded values) in ``exp_id``, owned by ``uid``,
    by SQLAlchemy Core executemany in chunks of 5,000 (no requests, no ORM)."""
    from tether_server.models import LatestMetric, Param, Run

    rng, ts = random.Random(42), int(time.time() * 1000)
    for start in range(0, n, 5_000):
        runs, params, latest = _bulk_rows(rng, exp_id, uid, ts, min(5_000, n - start))
        with engine.begin() as c:
            c.execute(Run.__table__.insert(), runs)
            c.execute(Param.__table__.insert(), params)
            c.execute(LatestMetric.__table__.insert(), latest)


def grow(ctx: Context, exp_id: int, total: int) -> Row:
    """Bulk-insert runs (5 params + 5 latest metrics each) straight into the database."""
    from sqlalchemy import text

    from tether_server.db import make_engine

    engine = make_engine(_db_url(ctx))
    uid, _ = ctx.user("writer")
    with engine.connect() as c:
        have = (
            c.execute(text("SELECT count(*) FROM runs WHERE experiment_id = :e"), {"e": exp_id}).scalar() or 0
        )
    todo, t0 = total - have, time.perf_counter()
    insert_runs(engine, exp_id, uid, todo)
    engine.dispose()
    _analyze(ctx)
    took = time.perf_counter() - t0
    return Row(
        f"grow to {total:,} runs (direct insert)",
        "info",
        f"{todo:,} runs in {took:.1f} s",
        None,
        "SQLAlchemy Core executemany; PostgreSQL then ANALYZEd (as autovacuum would)",
    )


def _analyze(ctx: Context) -> None:
    """PostgreSQL: refresh planner statistics, as autovacuum does within a minute of a table
    growing this much. Measuring right after 5,000 runs appeared in a seconds-old table would
    time plans made for an empty table (seen: 20-100 ms instead of a few)."""
    from sqlalchemy import text

    from tether_server.db import make_engine

    engine = make_engine(_db_url(ctx))
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("ANALYZE runs; ANALYZE params; ANALYZE latest_metrics; ANALYZE run_tags"))
    engine.dispose()


def _bulk_rows(rng: random.Random, exp_id: int, uid: int, ts: int, n: int) -> tuple[list, list, list]:
    runs, params, latest = [], [], []
    for _ in range(n):
        rid = uuid.uuid4().hex
        runs.append(
            {
                "id": rid,
                "experiment_id": exp_id,
                "name": "bulk",
                "status": "FINISHED",
                "lifecycle": "active",
                "start_time": ts - rng.randrange(10**8),
                "end_time": ts,
                "parent_run_id": None,
                "created_by": uid,
            }
        )
        for k, v in (
            ("depth", rng.choice(["4", "6", "8"])),
            ("lr", "0.1"),
            ("n_estimators", "300"),
            ("subsample", "0.8"),
            ("seed", str(rng.randrange(10**6))),
        ):
            params.append({"run_id": rid, "key": k, "value": v})
        for k in ("auc", "f1", "loss", "precision", "recall"):
            latest.append(
                {"run_id": rid, "key": k, "step": 0, "timestamp": ts, "value": rng.random(), "is_nan": False}
            )
    return runs, params, latest


def _db_url(ctx: Context) -> str:
    if ctx.database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + ctx.database_url[len("postgresql://") :]
    return ctx.database_url


# ---------------------------------------------------------------- auth overhead (issue 3)


def run_auth(ctx: Context) -> list[Row]:
    """Cost of the auth step, timed in-process, plus an in-process A/B of the same workloads.

    The A/B replaces ``pipeline._authenticate`` (header parse + token lookup) with a function
    that sets a fixed principal; everything else (access policy, role check, commit) still runs.
    """
    from tether_server import create_app, pipeline
    from tether_server.config import Settings
    from tether_server.runtime import Runtime
    from tether_server.services.identity import users

    _, token = ctx.user("writer")
    pg = ctx.backend == "postgresql"
    app = create_app(
        Settings(
            data_dir=ctx.data_dir,
            database_url=ctx.database_url if pg else "",
            log_level="WARNING",
            webhook_worker=False,
        )
    )  # no background threads
    app.config["TETHER_ACCESS_LOG"] = False
    rt = Runtime.of(app)
    principal = users.authenticate_token(rt.token_cache, rt.database.read_session, token)
    tok_s = _per_call(
        lambda: users.authenticate_token(rt.token_cache, rt.database.read_session, token), 20_000
    )
    exp = ctx.experiment("bench-auth", token)
    run_id = ctx.create_run(ctx.http(token), exp, "auth")  # a real run id, so the URL routes
    path = f"/api/v1/runs/{run_id}/metrics"
    with app.test_request_context(path, method="POST", headers={"Authorization": f"Bearer {token}"}):
        from flask import g

        def step() -> None:  # exactly what the A/B below switches off, plus the role check
            pipeline._authenticate()
            g.principal.has_role("writer")

        step_s = _per_call(step, 20_000)
    rows = [
        Row("auth: authenticate_token (cached)", "< 1 ms", f"{tok_s * 1e6:.1f} µs/call", tok_s < 0.001),
        Row(
            "auth: whole auth step per request",
            "info",
            f"{step_s * 1e6:.1f} µs",
            None,
            "pipeline._authenticate (header parse, hash, cache hit) + role check, in-process",
        ),
    ]
    rows += _auth_ab(ctx, app, pipeline, principal, token, exp, step_s)
    Runtime.of(app).close()
    return rows


def _per_call(fn: Any, n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


class _auth_off:
    """Swap the bearer-token step for a fixed principal (in this process only)."""

    def __init__(self, pipeline: Any, principal: Any) -> None:
        self.pipeline, self.principal, self.orig = pipeline, principal, pipeline._authenticate

    def __enter__(self) -> None:
        from flask import g

        def fixed() -> None:
            g.principal = self.principal

        self.pipeline._authenticate = fixed

    def __exit__(self, *exc: object) -> None:
        self.pipeline._authenticate = self.orig


def _auth_ab(
    ctx: Context, app: Any, pipeline: Any, principal: Any, token: str, exp: int, step_s: float
) -> list[Row]:
    """Interleave auth-on and auth-off chunks (alternating order, a fresh run per chunk) so that
    drift (a growing table, WAL checkpoints) falls on both sides equally."""
    client = app.test_client()
    hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ts = int(time.time() * 1000)
    singles = [orjson.dumps({"key": "ab", "value": 0.5, "step": i, "timestamp": ts + i}) for i in range(150)]
    out = []
    for label, sub, bodies, unit in (
        ("single log_metric", "metrics", singles, "req/s"),
        ("batch ingest", "batch", _batch_bodies(8), "batches/s"),
    ):
        times: dict[bool, list[float]] = {True: [], False: []}
        for chunk in range(8 if ctx.quick else 16):
            for on in (True, False) if chunk % 2 == 0 else (False, True):
                path = f"/api/v1/runs/{ctx.create_run(ctx.http(token), exp, 'ab')}/{sub}"
                times[on].append(_client_time(client, pipeline, principal, path, bodies, hdr, on))
        # Median chunk time per side: robust to WAL checkpoints and load bursts from other jobs.
        med = {k: statistics.median(v) for k, v in times.items()}
        loss = med[True] / med[False] - 1
        out.append(
            Row(
                f"auth on vs off: {label} (in-process)",
                "within 10%",
                f"{loss * 100:+.1f}%",
                loss <= 0.10,
                f"on {len(bodies) / med[True]:,.0f} / off {len(bodies) / med[False]:,.0f} "
                f"{unit}; Flask test client, median of {len(times[True])} interleaved chunks per side",
            )
        )
    live = _live_estimate(ctx, step_s)
    if live:
        out.append(live)
    return out


def _client_time(
    client: Any,
    pipeline: Any,
    principal: Any,
    path: str,
    bodies: list[bytes],
    hdr: dict[str, str],
    auth_on: bool,
) -> float:
    headers = hdr if auth_on else {"Content-Type": "application/json"}
    guard = _auth_off(pipeline, principal) if not auth_on else None
    if guard:
        guard.__enter__()
    try:
        t = time.perf_counter()
        for body in bodies:
            r = client.post(path, data=body, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"in-process request got {r.status_code}: {r.get_data()[:200]!r}")
        return time.perf_counter() - t
    finally:
        if guard:
            guard.__exit__()


def _live_estimate(ctx: Context, step_s: float) -> Row | None:
    p50, batch_cpu = ctx.shared.get("single_p50_s"), ctx.shared.get("batch_cpu_s")
    if not p50 or not batch_cpu:
        return None
    single, batch = step_s / p50, step_s / batch_cpu
    return Row(
        "auth overhead on the live server (est.)",
        "within 10%",
        f"single {single * 100:.1f}% / batch {batch * 100:.2f}%",
        max(single, batch) <= 0.10,
        f"auth step {step_s * 1e6:.0f} µs vs single p50 {p50 * 1e3:.2f} ms and "
        f"{batch_cpu * 1e3:.1f} ms of server CPU per 1,000-point batch",
    )
