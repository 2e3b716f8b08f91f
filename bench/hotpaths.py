"""Hot paths (issue 17): the table an MLflow-style client feels, on both harness shapes.

Every row is measured twice where the client matters:

- **mlflow-shaped**: plain ``requests`` with stdlib ``json`` on the client (``json=`` to send,
  ``r.json()`` to read), and two requests per run (``POST /runs`` then ``POST /runs/{id}/batch``),
  as MLflow's stock client does;
- **pre-serialised**: bodies serialised with orjson before the clock starts, one ``POST /runs``
  carrying the params and metrics, orjson to decode (the shape of ``bench.core``).

Downloads need an S3 store (``TETHER_BENCH_S3_ENDPOINT`` + ``_ACCESS_KEY``/``_SECRET_KEY``, or the
``TETHER_TEST_S3_*`` variables): a second server on the same database with the S3 store, a
200 MiB object, direct minio GETs alternating with proxied GETs, and the time to first byte.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests

from . import Context, Row, fmt_ms, percentile
from ._server import echo_server
from .core import _analyze, _check_search, _run_data, _threads, grow, search_request

SEARCH_RUNS = 5_000
COLUMNAR = "application/vnd.tether.columnar+json"
MiB = 1024 * 1024


def run(ctx: Context) -> list[Row]:
    _, token = ctx.user("writer")
    exp = ctx.experiment("bench-hot-search", token)
    rows: list[Row] = []
    tether = _Target(ctx.url, ctx.server.cpu)
    for shape in ("mlflow", "pre"):
        rows += _guard(f"create runs ({shape})", lambda s=shape: [create_runs(ctx, token, exp, s, tether)])
    for shape in ("mlflow", "pre"):
        rows += _guard(f"single log_metric ({shape})", lambda s=shape: [single(ctx, token, s, tether)])
    rows += _guard("harness ceiling", lambda: ceilings(ctx, token, exp))
    rows += _guard("grow", lambda: [grow(ctx, exp, SEARCH_RUNS)])
    _analyze(ctx)
    for shape in ("mlflow", "pre"):
        rows += _guard(f"search ({shape})", lambda s=shape: [search(ctx, token, exp, s)])
    rows += _guard("history", lambda: history(ctx, token))
    rows += _guard("downloads", lambda: downloads(ctx))
    return rows


def _guard(label: str, fn: Callable[[], list[Row]]) -> list[Row]:
    try:
        return list(fn())
    except Exception as e:  # noqa: BLE001 - reported in the table
        return [Row(f"hot: {label}: error", "-", type(e).__name__, False, str(e)[:160])]


@dataclass(frozen=True)
class _Target:
    """Where the create-run and single ``log_metric`` clients send: ``url(path)`` for an ``/api/v1``
    path, ``cpu()`` the server tree's CPU seconds so far."""

    url: Callable[[str], str]
    cpu: Callable[[], float]


def ceilings(ctx: Context, token: str, exp: int) -> list[Row]:
    """The mlflow-shaped create-run and single ``log_metric`` clients, unchanged, against
    ``bench._echo_app`` (parses the JSON body, answers a small JSON object) under tether's gunicorn
    options: what the harness and the HTTP stack alone carry on this host, next to the target."""
    with echo_server() as (base, cpu):
        echo = _Target(lambda path: base + "/api/v1" + path, cpu)
        rows = [create_runs(ctx, token, exp, "mlflow", echo), single(ctx, token, "mlflow", echo)]
    return [
        Row(
            r.metric.replace("hot: ", "  harness ceiling: ") + " (info)",
            "",
            r.measured,
            None,
            r.notes + "; the same client code against a bare Flask echo app under the same gunicorn options",
        )
        for r in rows
    ]


def _session(ctx: Context, token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


_SHAPE = {"mlflow": "requests + stdlib json", "pre": "pre-serialised, orjson"}


# ---------------------------------------------------------------- run creation


def create_runs(ctx: Context, token: str, exp: int, shape: str, target: _Target) -> Row:
    """4 threads, each creating runs with 5 params and 5 metrics for up to 8 s (or 600 runs)."""
    seconds, per = (4.0, 300) if ctx.quick else (8.0, 600)
    ts = int(time.time() * 1000)
    mlflow = shape == "mlflow"

    def worker(i: int, barrier: threading.Barrier) -> int:
        rng = random.Random((2000 if mlflow else 3000) + i)
        data = [_run_data(rng, ts) for _ in range(per)]
        pre = [orjson.dumps({"experiment_id": exp, "name": f"p{i}-{k}", **d}) for k, d in enumerate(data)]
        s = _session(ctx, token)
        if not mlflow:
            s.headers["Content-Type"] = "application/json"
        s.get(target.url("/health")).raise_for_status()
        barrier.wait()
        deadline, done = time.perf_counter() + seconds, 0
        for k, d in enumerate(data):
            if time.perf_counter() >= deadline:
                break
            if mlflow:
                r = s.post(target.url("/runs"), json={"experiment_id": exp, "name": f"m{i}-{k}"})
                if r.status_code != 201:
                    raise RuntimeError(f"create run got {r.status_code}: {r.text[:200]}")
                r = s.post(target.url(f"/runs/{r.json()['id']}/batch"), json=d)
                if r.status_code != 200:
                    raise RuntimeError(f"run batch got {r.status_code}: {r.text[:200]}")
            else:
                r = s.post(target.url("/runs"), data=pre[k])
                if r.status_code != 201:
                    raise RuntimeError(f"create run got {r.status_code}: {r.text[:200]}")
            done += 1
        return done

    cpu0 = target.cpu()
    elapsed, res = _threads(worker)
    cores = (target.cpu() - cpu0) / elapsed
    rate = sum(res) / elapsed
    how = "POST /runs + POST /runs/{id}/batch" if mlflow else "one POST /runs with params and metrics"
    return Row(
        f"hot: create run + 5 params + 5 metrics ({shape})",
        "≥ 600 runs/s",
        f"{rate:,.0f} runs/s",
        rate >= 600,
        f"{sum(res)} runs in {elapsed:.1f} s, 4 threads, {how}, {_SHAPE[shape]}; "
        f"server used {cores:.2f} cores",
    )


# ---------------------------------------------------------------- single log_metric


def single(ctx: Context, token: str, shape: str, target: _Target) -> Row:
    """Sequential ``POST /runs/{id}/metrics`` on one keep-alive connection, up to 3,000 or 5 s."""
    exp = ctx.experiment("bench-hot-single", token)
    s = _session(ctx, token)
    run_id = s.post(target.url("/runs"), json={"experiment_id": exp}).json()["id"]
    url = target.url(f"/runs/{run_id}/metrics")
    n_max, ts = (1_000 if ctx.quick else 3_000), int(time.time() * 1000)
    points = [
        {"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": ts + i} for i in range(n_max + 50)
    ]
    mlflow = shape == "mlflow"
    pre = [orjson.dumps(p) for p in points]
    if not mlflow:
        s.headers["Content-Type"] = "application/json"

    def post(i: int) -> requests.Response:
        return s.post(url, json=points[i]) if mlflow else s.post(url, data=pre[i])

    for i in range(50):
        post(i).raise_for_status()
    lat: list[float] = []
    cpu0, t0 = target.cpu(), time.perf_counter()
    for i in range(50, n_max + 50):
        t = time.perf_counter()
        r = post(i)
        lat.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"log_metric got {r.status_code}: {r.text[:200]}")
        if t - t0 > 5.0:
            break
    elapsed = time.perf_counter() - t0
    rate, p50 = len(lat) / elapsed, percentile(lat, 50)
    cpu_ms = (target.cpu() - cpu0) / len(lat) * 1000
    return Row(
        f"hot: single log_metric, sequential ({shape})",
        "≥ 600/s, p50 ≤ 2 ms",
        f"{rate:,.0f}/s, p50 {fmt_ms(p50)}",
        rate >= 600 and p50 <= 0.002,
        f"{len(lat)} requests, one keep-alive connection, {_SHAPE[shape]}; p95 "
        f"{fmt_ms(percentile(lat, 95))}; server CPU {cpu_ms:.2f} ms/request",
    )


# ---------------------------------------------------------------- search


def search(ctx: Context, token: str, exp: int, shape: str) -> Row:
    """The standard filter over 5,000 runs, 100 full runs per answer, request + client decode."""
    s = _session(ctx, token)
    body = search_request(exp)
    mlflow = shape == "mlflow"
    pre = orjson.dumps(body)
    if not mlflow:
        s.headers["Content-Type"] = "application/json"
    lat: list[float] = []
    n_items = 0
    for i in range(105):
        t = time.perf_counter()
        r = (
            s.post(ctx.url("/runs/search"), json=body)
            if mlflow
            else s.post(ctx.url("/runs/search"), data=pre)
        )
        if r.status_code != 200:
            raise RuntimeError(f"search got {r.status_code}: {r.text[:200]}")
        items = (r.json() if mlflow else orjson.loads(r.content))["items"]
        dt = time.perf_counter() - t
        n_items = len(items)
        if i == 0:
            _check_search(items)
        if i >= 5:
            lat.append(dt)
    p50 = percentile(lat, 50)
    return Row(
        f"hot: search {SEARCH_RUNS:,} runs, 100 full runs ({shape})",
        "p50 ≤ 8 ms",
        fmt_ms(p50),
        p50 <= 0.008,
        f"request + decode, {_SHAPE[shape]}; {n_items} runs/page; p95 {fmt_ms(percentile(lat, 95))}",
    )


# ---------------------------------------------------------------- history


def history(ctx: Context, token: str) -> list[Row]:
    """10,000 steps of one key: the columnar form (and, for reference, the row form)."""
    exp = ctx.experiment("bench-hot-history", token)
    s = _session(ctx, token)
    run_id = s.post(ctx.url("/runs"), json={"experiment_id": exp}).json()["id"]
    ts = int(time.time() * 1000)
    pts = [{"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": ts + i} for i in range(10_000)]
    s.post(ctx.url(f"/runs/{run_id}/batch"), json={"metrics": pts}).raise_for_status()
    url = ctx.url(f"/runs/{run_id}/metrics/loss")
    out = []
    for form, shape in (("columnar", "mlflow"), ("columnar", "pre"), ("rows", "mlflow"), ("rows", "pre")):
        headers = {"Accept": COLUMNAR} if form == "columnar" else {}
        decode: Callable[[requests.Response], Any] = (
            (lambda r: r.json()) if shape == "mlflow" else (lambda r: orjson.loads(r.content))
        )
        lat, size, got = [], 0, form
        for i in range(55):
            t = time.perf_counter()
            r = s.get(url, headers=headers)
            r.raise_for_status()
            doc = decode(r)
            dt = time.perf_counter() - t
            if "steps" in doc:
                n = len(doc["steps"])
            else:
                n, got = len(doc["items"]), "rows"  # a server without the columnar form
            if n != 10_000 or doc["next_page_token"]:
                raise RuntimeError(f"history returned {n} points")
            size = len(r.content)
            if i >= 5:
                lat.append(dt)
        p50 = percentile(lat, 50)
        target = form == "columnar"
        out.append(
            Row(
                f"hot: 10,000-step history, request + decode ({form}, {shape})",
                "p50 ≤ 10 ms" if target else "info",
                fmt_ms(p50) + ("" if got == form else " (rows: no columnar form)"),
                (p50 <= 0.010 and got == form) if target else None,
                f"{_SHAPE[shape]}; {size / 1024:.0f} KiB; p95 {fmt_ms(percentile(lat, 95))}",
            )
        )
    return out


# ---------------------------------------------------------------- downloads


def s3_env() -> tuple[str, str, str] | None:
    for prefix in ("TETHER_BENCH_S3_", "TETHER_TEST_S3_"):
        ep = os.environ.get(prefix + "ENDPOINT", "")
        if ep:
            return ep, os.environ.get(prefix + "ACCESS_KEY", ""), os.environ.get(prefix + "SECRET_KEY", "")
    return None


def downloads(ctx: Context) -> list[Row]:
    from .artifacts import S3Server, _minio, drop_bucket, make_blob, mibs, new_run, timed

    s3 = s3_env()
    if s3 is None:
        return [
            Row("hot: proxied download vs direct S3 GET", "≥ 90%", "no S3", None, "set TETHER_BENCH_S3_*")
        ]
    ep, ak, sk = s3
    work = Path(tempfile.mkdtemp(prefix="tether-bench-hot-"))
    bucket = f"bench-hot-{uuid.uuid4().hex[:8]}"
    mc = _minio(ep, ak, sk)
    _, token = ctx.user("writer")
    srv = S3Server(
        data_dir=str(work / "data"),
        admin_token=ctx.admin_token,
        database_url=ctx.database_url,
        extra_env={
            "TETHER_ARTIFACT_URI": f"s3://{bucket}/tether",
            "TETHER_S3_ENDPOINT": ep,
            "TETHER_S3_ACCESS_KEY": ak,
            "TETHER_S3_SECRET_KEY": sk,
            "TETHER_LOG_LEVEL": "WARNING",
        },
    )
    try:
        Path(srv.data_dir).mkdir(parents=True)
        src = make_blob(work, 200)
        size = src.stat().st_size
        mc.make_bucket(bucket)
        with open(src, "rb") as fh:
            mc.put_object(bucket, "direct", fh, size, part_size=16 * MiB)
        srv.start()
        rid = new_run(srv.base_url, token)
        url, h = f"{srv.base_url}/api/v1/runs/{rid}/artifacts/blob.bin", {"Authorization": f"Bearer {token}"}
        with open(src, "rb") as fh:
            requests.put(url, data=fh, headers=h, timeout=600).raise_for_status()

        def direct() -> None:
            resp = mc.get_object(bucket, "direct")
            n = sum(len(c) for c in resp.stream(MiB))
            resp.release_conn()
            if n != size:
                raise RuntimeError("short direct GET")

        def proxied() -> None:
            with requests.get(url, headers=h, stream=True, timeout=600) as r:
                r.raise_for_status()
                if sum(len(c) for c in r.iter_content(MiB)) != size:
                    raise RuntimeError("short proxied GET")

        proxied()  # warm-up
        d, p = [], []
        for _ in range(2 if ctx.quick else 4):
            d.append(mibs(size, timed(direct)))
            p.append(mibs(size, timed(proxied)))
        ratio = statistics.median(p) / statistics.median(d)
        ttfb = _ttfb(url, h, 20)
        return [
            Row(
                "hot: proxied download vs direct S3 GET (200 MiB)",
                "≥ 90%",
                f"{ratio:.0%}",
                ratio >= 0.90,
                f"medians of {len(d)} alternating runs: direct {statistics.median(d):.0f}, proxied "
                f"{statistics.median(p):.0f} MiB/s ({', '.join(f'{x:.0f}' for x in p)})",
            ),
            Row(
                "hot: download time to first byte (200 MiB)",
                "p50 ≤ 50 ms",
                fmt_ms(percentile(ttfb, 50)),
                percentile(ttfb, 50) <= 0.050,
                f"{len(ttfb)} GETs, new connection each, request sent → first body byte; "
                f"p95 {fmt_ms(percentile(ttfb, 95))}",
            ),
        ]
    finally:
        srv.stop()
        drop_bucket(mc, bucket)
        shutil.rmtree(work, ignore_errors=True)


def _ttfb(url: str, headers: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with requests.get(url, headers=headers, stream=True, timeout=60) as r:
            r.raise_for_status()
            if not r.raw.read(1):
                raise RuntimeError("empty download")
            out.append(time.perf_counter() - t)
    return out
