"""UI workloads (issue 6): the runs table with 10,000 runs, and the compare page for 100 runs × 10,000 steps.

Setup inserts runs and metric histories straight into the server's database (SQLAlchemy Core), as
``core.grow`` does. Pages are requested over HTTP from the real gunicorn server with the writer's bearer
token (the UI accepts it like a session cookie). The compare page is timed in Chromium (Playwright):
navigation start → every chart drawn (``#compare-charts[data-ready]``), which includes the 100
downsampled history requests the page makes.

Run alone: ``python -m bench.ui`` (starts its own SQLite server) or through ``python -m bench.run``.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from typing import Any

import requests

from . import Context, Row, percentile

RUNS = 10_000
COMPARE_RUNS = 100
STEPS = 10_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def run(ctx: Context) -> list[Row]:
    uid, token = ctx.user("writer")
    rows: list[Row] = []
    exp_id = ctx.experiment("ui-table", token)
    t0 = time.perf_counter()
    _insert_runs(ctx, exp_id, uid, RUNS, steps=0)
    rows.append(Row(f"setup: {RUNS:,} runs (direct insert)", "info", f"{time.perf_counter() - t0:.1f} s"))
    rows += _table_rows(ctx, token, exp_id)
    exp2 = ctx.experiment("ui-compare", token)
    t0 = time.perf_counter()
    ids = _insert_runs(ctx, exp2, uid, COMPARE_RUNS, steps=200 if ctx.quick else STEPS)
    rows.append(
        Row(
            f"setup: {COMPARE_RUNS} runs × {STEPS if not ctx.quick else 200:,} steps",
            "info",
            f"{time.perf_counter() - t0:.1f} s",
        )
    )
    rows += _compare_rows(ctx, token, ids)
    return rows


# ---------------------------------------------------------------- setup


def _engine(ctx: Context) -> Any:
    from tether_server.db import make_engine

    url = ctx.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return make_engine(url)


def _insert_runs(ctx: Context, exp_id: int, uid: int, n: int, steps: int) -> list[str]:
    from tether_server.models import LatestMetric, Metric, Param, Run, RunTag

    rng, ts = random.Random(6), int(time.time() * 1000)
    engine = _engine(ctx)
    ids: list[str] = []
    for start in range(0, n, 2_000):
        runs, params, tags, latest = [], [], [], []
        for i in range(start, min(n, start + 2_000)):
            rid = uuid.uuid4().hex
            ids.append(rid)
            runs.append(
                {
                    "id": rid,
                    "experiment_id": exp_id,
                    "name": f"run-{i:05d}",
                    "status": "FINISHED",
                    "lifecycle": "active",
                    "start_time": ts - i * 1000,
                    "end_time": ts,
                    "parent_run_id": None,
                    "created_by": uid,
                }
            )
            params += [
                {"run_id": rid, "key": k, "value": v}
                for k, v in (("depth", str(rng.choice([4, 6, 8]))), ("lr", "0.1"), ("seed", str(i)))
            ]
            tags.append({"run_id": rid, "key": "team", "value": rng.choice(["growth", "core"])})
            latest += [
                {
                    "run_id": rid,
                    "key": k,
                    "step": steps,
                    "timestamp": ts,
                    "value": rng.random(),
                    "is_nan": False,
                }
                for k in ("auc", "loss", "f1")
            ]
        with engine.begin() as c:
            for model, batch in ((Run, runs), (Param, params), (RunTag, tags), (LatestMetric, latest)):
                c.execute(model.__table__.insert(), batch)
    if steps:
        for rid in ids:
            scale = rng.uniform(0.5, 2.0)
            pts = [
                {
                    "run_id": rid,
                    "key": "loss",
                    "step": s,
                    "timestamp": ts + s,
                    "is_nan": False,
                    "value": scale / (s + 1) + rng.random() * 0.01,
                }
                for s in range(steps)
            ]
            with engine.begin() as c:
                c.execute(Metric.__table__.insert(), pts)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.exec_driver_sql(
                "ANALYZE runs; ANALYZE params; ANALYZE latest_metrics; ANALYZE metrics; ANALYZE run_tags"
            )
    engine.dispose()
    return ids


# ---------------------------------------------------------------- runs table

TABLE_VIEWS = {
    "default (newest first, 50 rows)": "",
    "sorted by metrics.auc DESC": "?order=metrics.auc+DESC",
    "filtered + sorted, 3 extra columns": "?filter=metrics.auc+%3E+0.5+and+params.depth+%3D+%276%27"
    "&order=metrics.loss+ASC&col=metrics.auc&col=params.depth&col=tags.team",
    "page 2 (next_page_token)": None,
}


def _table_rows(ctx: Context, token: str, exp_id: int) -> list[Row]:
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "Accept": "text/html"})
    base = f"{ctx.base_url}/experiments/{exp_id}"
    out = []
    n = 10 if ctx.quick else 40
    for label, query in TABLE_VIEWS.items():
        if query is None:
            first = s.get(base, headers={"Accept": "application/json"}).json()
            query = "?page_token=" + first["next_page_token"]
        url = base + query
        for _ in range(3):
            s.get(url).raise_for_status()  # warm-up
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = s.get(url)
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
        assert "runs-table" in r.text and r.text.count("data-run-id=") == 50
        p50, p95 = percentile(times, 50), percentile(times, 95)
        out.append(
            Row(
                f"runs table @ {RUNS:,} runs: {label}",
                "≤ 300 ms",
                f"p50 {p50 * 1000:.0f} ms",
                p95 <= 0.300,
                f"p95 {p95 * 1000:.0f} ms, {len(r.content) // 1024} KiB HTML, {n} requests",
            )
        )
    return out


# ---------------------------------------------------------------- compare in Chromium


def _compare_rows(ctx: Context, token: str, ids: list[str]) -> list[Row]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [Row("compare page", "≤ 2 s", "skipped", None, "playwright is not installed")]
    exe = os.environ.get("TETHER_TEST_CHROMIUM", "/usr/bin/chromium")
    url = f"{ctx.base_url}/compare?metric=loss&run={','.join(ids)}"
    times: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, extra_http_headers={"Authorization": f"Bearer {token}"}
        )
        page = context.new_page()
        for _ in range(2 if ctx.quick else 5):
            t0 = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.wait_for_selector("#compare-charts[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - t0)
            series = page.get_attribute("#compare-charts figure.chart", "data-series")
            assert series == str(len(ids)), series
        status = page.inner_text("#chart-status")
        browser.close()
    cold, warm = times[0], statistics.median(times[1:]) if len(times) > 1 else times[0]
    return [
        Row(
            f"compare page ready in Chromium: {len(ids)} runs × {STEPS:,} steps",
            "≤ 2 s",
            f"{warm:.2f} s",
            warm <= 2.0,
            f"median of {len(times) - 1} loads after a first one of {cold:.2f} s; {status}",
        )
    ]


def main() -> None:
    import shutil
    import tempfile

    from ._server import Server, new_admin_token

    data_dir = tempfile.mkdtemp(prefix="tether-bench-ui-")
    srv = Server(data_dir=data_dir, admin_token=new_admin_token())
    try:
        srv.start()
        ctx = Context(
            backend="sqlite",
            base_url=srv.base_url,
            admin_token=srv.admin_token,
            database_url=f"sqlite:///{data_dir}/tether.db",
            data_dir=data_dir,
            server=srv,
        )
        rows = run(ctx)
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    width = max(len(r.metric) for r in rows)
    for r in rows:
        verdict = "" if r.ok is None else ("PASS" if r.ok else "FAIL")
        print(f"{r.metric:<{width}}  {r.target:<9} {r.measured:<14} {verdict:<5} {r.notes}")


if __name__ == "__main__":
    main()
