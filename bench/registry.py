"""Registry speed against a real gunicorn server: production fetch with 1,000 models and a 304 revalidation.

Setup (not timed): a writer uploads a small model (two files) to one run, then for each of N models
creates it, registers version 1 (the files are copied into registry storage), requests Production, and
a reviewer approves (the real four-eyes path). Then, sequentially over one keep-alive connection:

- production fetch: ``GET /models/<random>/stages/production`` (version, run, datasets, metadata,
  files with download URLs) as a deployment system would call it;
- 304 revalidation: the same with ``If-None-Match`` set to the ETag it got before.

Run: ``.venv/bin/python -m bench.run --only registry`` (``--quick`` uses 200 models).
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

from . import Context, Row, fmt_ms, percentile

N_MODELS = 1000
SAMPLES = 2000


def _setup(ctx: Context, n: int) -> list[str]:
    _wid, wtok = ctx.user("writer")
    rid, rtok = ctx.user("reviewer")
    w = ctx.http(wtok)
    run_id = ctx.create_run(w, ctx.experiment("registry", wtok), "fit")
    for path, data in (("model/weights.bin", b"\x01" * 65536), ("model/config.json", b'{"layers": 3}')):
        r = w.put(
            ctx.url(f"/runs/{run_id}/artifacts/{path}"),
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        r.raise_for_status()
    names = [f"bench-model-{i:05d}" for i in range(n)]

    def one(name: str) -> None:
        ws, rs = ctx.http(wtok), ctx.http(rtok)
        ws.post(ctx.url("/models"), json={"name": name}).raise_for_status()
        mid = ws.get(ctx.url(f"/models/{name}")).json()["id"]
        ws.put(
            ctx.url("/permissions"),
            json={"user_id": rid, "resource_type": "model", "resource_id": str(mid), "level": "READ"},
        ).raise_for_status()
        ws.post(
            ctx.url(f"/models/{name}/versions"), json={"run_id": run_id, "artifact_path": "model"}
        ).raise_for_status()
        req = ws.post(
            ctx.url(f"/models/{name}/versions/1/transition-requests"), json={"to_stage": "Production"}
        )
        req.raise_for_status()
        rs.post(
            ctx.url(f"/transition-requests/{req.json()['id']}/approve"), json={"comment": "bench: approved"}
        ).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, names))
    return names


def _time(session, url: str, headers: dict[str, str] | None = None, expect: int = 200) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    r = session.get(url, headers=headers)
    dt = time.perf_counter() - t0
    if r.status_code != expect:
        raise RuntimeError(f"GET {url} -> {r.status_code}: {r.text[:200]}")
    return dt


def run(ctx: Context) -> list[Row]:
    n = 200 if ctx.quick else N_MODELS
    samples = 500 if ctx.quick else SAMPLES
    t0 = time.perf_counter()
    names = _setup(ctx, n)
    setup_s = time.perf_counter() - t0
    _wid, wtok = ctx.user("writer")
    s = ctx.http(wtok)
    rng = random.Random(5)
    etags = {}
    for name in names[:50]:  # warm the connection and the worker processes
        etags[name] = s.get(ctx.url(f"/models/{name}/stages/production")).headers["ETag"]
    fetch = [_time(s, ctx.url(f"/models/{rng.choice(names)}/stages/production")) for _ in range(samples)]
    picks = [rng.choice(names[:50]) for _ in range(samples)]
    revalidate = [
        _time(s, ctx.url(f"/models/{p}/stages/production"), {"If-None-Match": etags[p]}, 304) for p in picks
    ]
    p50_fetch, p50_304 = percentile(fetch, 50), percentile(revalidate, 50)
    return [
        Row(
            f"registry: production fetch p50 ({n} models)",
            "≤ 5 ms",
            fmt_ms(p50_fetch),
            p50_fetch <= 0.005,
            f"p95 {fmt_ms(percentile(fetch, 95))}; {samples} sequential GETs, keep-alive",
        ),
        Row(
            "registry: 304 revalidation p50",
            "≤ 2 ms",
            fmt_ms(p50_304),
            p50_304 <= 0.002,
            f"p95 {fmt_ms(percentile(revalidate, 95))}; If-None-Match with the previous ETag",
        ),
        Row(
            f"registry: setup ({n} models: create, register, request, approve)",
            "-",
            f"{setup_s:.1f} s",
            None,
            f"{n * 6 / setup_s:.0f} requests/s with 8 client threads",
        ),
    ]
