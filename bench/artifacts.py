"""Artifact benchmark (issue 4): proxied upload/download through a real gunicorn server against a
direct minio-SDK put/get to the same store, server RSS growth during each transfer, the SDK's direct
(presigned) upload, and dataset hashing speed.

In ``python -m bench.run`` (``run(ctx)``): with ``TETHER_BENCH_S3_ENDPOINT`` (+ ``_ACCESS_KEY``,
``_SECRET_KEY``) set, a second ``tether server`` on the same database is started with the S3 store
(a fresh bucket, removed afterwards); without it, the bench server's local store is measured against
a plain file copy. Standalone (S3 only; prints its own table)::

    TETHER_BENCH_S3_ENDPOINT=http://127.0.0.1:7480 TETHER_BENCH_S3_ACCESS_KEY=... \\
    TETHER_BENCH_S3_SECRET_KEY=... python bench/artifacts.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent.parent
if str(HERE) not in sys.path:  # standalone: ``python bench/artifacts.py``
    sys.path.insert(0, str(HERE))

from bench import Context, Row  # noqa: E402
from bench._server import Server, new_admin_token  # noqa: E402

MiB = 1024 * 1024
RSS_TARGET_MIB = 30.0
SPEED_TARGET = 0.90
HASH_TARGET = 400.0


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssWatch:
    """Peak RSS of a process tree (sampled every 50 ms) relative to its value at the start."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self.stop = pids, 0, False
        self.base = rss_kib(pids)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pids))
            time.sleep(0.05)

    def growth_mib(self) -> float:
        self.stop = True
        return max(0, self.peak - self.base) / 1024


def s3_config() -> tuple[str, str, str] | None:
    ep = os.environ.get("TETHER_BENCH_S3_ENDPOINT", "")
    if not ep:
        return None
    return (
        ep,
        os.environ.get("TETHER_BENCH_S3_ACCESS_KEY", ""),
        os.environ.get("TETHER_BENCH_S3_SECRET_KEY", ""),
    )


def make_blob(work: Path, size_mib: int) -> Path:
    src = work / "blob.bin"
    block = os.urandom(8 * MiB)
    with open(src, "wb") as fh:
        for _ in range(max(1, size_mib // 8)):
            fh.write(block)
    return src


def mibs(size: int, seconds: float) -> float:
    return size / max(seconds, 1e-9) / MiB


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@dataclass
class Result:
    store: str  # "s3" or "local"
    size: int
    direct_put: float = 0.0
    direct_get: float = 0.0
    proxied_put: float = 0.0
    proxied_get: float = 0.0
    put_rss: float = 0.0
    get_rss: float = 0.0
    sdk_direct_put: float | None = None
    hashing: float = 0.0
    get_note: str = ""
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the pieces


def direct_minio(mc: Any, bucket: str, src: Path, res: Result) -> None:
    size = src.stat().st_size

    def put() -> None:
        with open(src, "rb") as fh:
            mc.put_object(bucket, "direct", fh, size, part_size=8 * MiB, num_parallel_uploads=2)

    def get() -> None:
        resp = mc.get_object(bucket, "direct")
        for _ in resp.stream(MiB):
            pass
        resp.release_conn()

    res.direct_put, res.direct_get = mibs(size, timed(put)), mibs(size, timed(get))


def direct_disk(src: Path, work: Path, res: Result) -> None:
    """The local store's ceiling: copy the file on the same disk, then read the copy."""
    size, dst = src.stat().st_size, work / "copy.bin"

    def put() -> None:
        shutil.copyfile(src, dst)
        with open(dst, "rb+") as fh:
            os.fsync(fh.fileno())

    def get() -> None:
        with open(dst, "rb") as fh:
            while fh.read(MiB):
                pass

    res.direct_put, res.direct_get = mibs(size, timed(put)), mibs(size, timed(get))
    dst.unlink()


def proxied(
    base: str, token: str, run_id: str, src: Path, pids: Callable[[], list[int]], res: Result
) -> None:
    size = src.stat().st_size
    h = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/v1/runs/{run_id}/artifacts/blob.bin"
    with requests.Session() as s:  # warm-up: a small PUT/GET so every code path is imported
        s.put(f"{url}.warm", data=b"x" * 1024, headers=h, timeout=60).raise_for_status()
        s.get(f"{url}.warm", headers=h, timeout=60).raise_for_status()
    time.sleep(0.5)
    watch = RssWatch(pids())
    with open(src, "rb") as fh:
        t = time.perf_counter()
        r = requests.put(url, data=fh, headers=h, timeout=3600)
        res.proxied_put = mibs(size, time.perf_counter() - t)
    res.put_rss = watch.growth_mib()
    if r.status_code != 201:
        raise RuntimeError(f"proxied PUT answered {r.status_code}: {r.text[:300]}")
    watch = RssWatch(pids())
    n, t = 0, time.perf_counter()
    with requests.get(url, headers=h, stream=True, timeout=3600) as r:
        r.raise_for_status()
        for chunk in r.iter_content(MiB):
            n += len(chunk)
    res.proxied_get = mibs(size, time.perf_counter() - t)
    res.get_rss = watch.growth_mib()
    if n != size:
        raise RuntimeError(f"proxied GET returned {n} of {size} bytes")


def repeat_gets(
    mc: Any, bucket: str, base: str, token: str, run_id: str, size: int, res: Result, reps: int = 2
) -> None:
    """The store's speed swings between runs (RGW's memstore on shared cores), so one direct GET
    against one proxied GET minutes apart compares two different stores. Alternate them ``reps``
    more times and report the medians."""
    url, h = f"{base}/api/v1/runs/{run_id}/artifacts/blob.bin", {"Authorization": f"Bearer {token}"}

    def direct() -> None:
        resp = mc.get_object(bucket, "direct")
        for _ in resp.stream(MiB):
            pass
        resp.release_conn()

    def via_server() -> None:
        with requests.get(url, headers=h, stream=True, timeout=3600) as r:
            r.raise_for_status()
            for _ in r.iter_content(MiB):
                pass

    d, p = [res.direct_get], [res.proxied_get]
    for _ in range(reps):
        d.append(mibs(size, timed(direct)))
        p.append(mibs(size, timed(via_server)))
    res.direct_get, res.proxied_get = statistics.median(d), statistics.median(p)
    res.get_note = (
        f"medians of {len(d)} alternating runs (direct {', '.join(f'{x:.0f}' for x in d)}; "
        f"proxied {', '.join(f'{x:.0f}' for x in p)} MiB/s)"
    )


def sdk_direct(base: str, token: str, run_id: str, src: Path, res: Result) -> None:
    """``run.log_artifact`` on an S3 server: parallel presigned parts straight to the store (the time
    includes the server's read-back that checks the sha256 before recording)."""
    sys.path.insert(0, str(HERE / "client"))
    import tether

    with tether.Client(base, token=token, progress=False) as c:
        c.artifacts.multipart_threshold = 16 * MiB
        t = time.perf_counter()
        info = c.artifacts.upload(run_id, src, "sdk")
        res.sdk_direct_put = mibs(src.stat().st_size, time.perf_counter() - t)
        if c.artifacts.transfer().stats["parts_direct"] == 0 or info.size != src.stat().st_size:
            raise RuntimeError("the SDK upload did not go direct")


def hashing_speed(work: Path, res: Result) -> None:
    sys.path.insert(0, str(HERE / "client"))
    from tether._datasets import manifest

    manifest(work)  # warm the page cache
    size = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    res.hashing = mibs(size, timed(lambda: manifest(work)))


def new_run(base: str, token: str) -> str:
    h = {"Authorization": f"Bearer {token}"}
    eid = requests.post(
        f"{base}/api/v1/experiments",
        json={"name": f"bench-artifacts-{uuid.uuid4().hex[:8]}"},
        headers=h,
        timeout=30,
    ).json()["id"]
    return requests.post(f"{base}/api/v1/runs", json={"experiment_id": eid}, headers=h, timeout=30).json()[
        "id"
    ]


def _minio(ep: str, ak: str, sk: str) -> Any:
    from minio import Minio

    return Minio(ep.split("://")[-1], ak, sk, secure=ep.startswith("https"), region="us-east-1")


def drop_bucket(mc: Any, bucket: str) -> None:
    """A memstore-backed test gateway holds only a few GiB: always remove what we wrote."""
    from minio.deleteobjects import DeleteObject

    try:
        objs = [DeleteObject(o.object_name) for o in mc.list_objects(bucket, recursive=True)]
        list(mc.remove_objects(bucket, objs))
        mc.remove_bucket(bucket)
    except Exception as e:  # noqa: BLE001 - cleanup must not hide the measurement
        print(f"could not remove bucket {bucket}: {e}", file=sys.stderr)


@dataclass
class S3Server(Server):
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}


# ---------------------------------------------------------------- the two modes


def measure_s3(
    size_mib: int,
    s3: tuple[str, str, str],
    database_url: str = "",
    admin_token: str = "",
    token: Callable[[str], str] | None = None,
) -> Result:
    ep, ak, sk = s3
    work = Path(tempfile.mkdtemp(prefix="tether-bench-art-"))
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    mc = _minio(ep, ak, sk)
    srv = S3Server(
        data_dir=str(work / "data"),
        admin_token=admin_token or new_admin_token(),
        database_url=database_url,
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
        src = make_blob(work, size_mib)
        res = Result("s3", src.stat().st_size)
        mc.make_bucket(bucket)
        direct_minio(mc, bucket, src, res)
        srv.start()
        tok = token(srv.base_url) if token else srv.admin_token
        rid = new_run(srv.base_url, tok)
        proxied(srv.base_url, tok, rid, src, lambda: [srv.pid, *srv.worker_pids()], res)
        repeat_gets(mc, bucket, srv.base_url, tok, rid, res.size, res)
        sdk_direct(srv.base_url, tok, rid, src, res)
        hashing_speed(work, res)
        res.notes.append(f"S3 store {ep}; server: gunicorn {srv.workers} workers x {srv.threads} threads")
        return res
    finally:
        srv.stop()
        drop_bucket(mc, bucket)
        shutil.rmtree(work, ignore_errors=True)


def measure_local(ctx: Context, size_mib: int) -> Result:
    work = Path(tempfile.mkdtemp(prefix="tether-bench-art-", dir=ctx.data_dir))
    try:
        src = make_blob(work, size_mib)
        res = Result("local", src.stat().st_size)
        direct_disk(src, work, res)
        _uid, tok = ctx.user("writer")
        rid = new_run(ctx.base_url, tok)
        proxied(ctx.base_url, tok, rid, src, lambda: [ctx.server.pid, *ctx.server.worker_pids()], res)
        hashing_speed(work, res)
        res.notes.append(
            "local store (set TETHER_BENCH_S3_ENDPOINT for S3); direct = a file copy on the same disk"
        )
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows_of(res: Result) -> list[Row]:
    mb = f"{res.size / MiB:.0f} MiB"
    base = "minio put/get" if res.store == "s3" else "file copy/read"
    put_ratio, get_ratio = res.proxied_put / res.direct_put, res.proxied_get / res.direct_get
    speed_ok = (lambda r: r >= SPEED_TARGET) if res.store == "s3" else (lambda r: None)
    rows = [
        Row(
            f"artifacts: proxied PUT ({mb}) vs direct",
            "≥ 90%",
            f"{res.proxied_put:.0f} MiB/s ({put_ratio:.0%})",
            speed_ok(put_ratio),
            f"direct {base} {res.direct_put:.0f} MiB/s; {res.notes[0]}",
        ),
        Row(
            f"artifacts: proxied GET ({mb}) vs direct",
            "≥ 90%",
            f"{res.proxied_get:.0f} MiB/s ({get_ratio:.0%})",
            speed_ok(get_ratio),
            f"direct {base} {res.direct_get:.0f} MiB/s; client, server and store share the cores"
            + (f"; {res.get_note}" if res.get_note else ""),
        ),
        Row(
            "artifacts: server RSS growth during PUT",
            f"≤ {RSS_TARGET_MIB:.0f} MiB",
            f"{res.put_rss:.1f} MiB",
            res.put_rss <= RSS_TARGET_MIB,
            "peak VmRSS of master + workers minus before, sampled every 50 ms",
        ),
        Row(
            "artifacts: server RSS growth during GET",
            f"≤ {RSS_TARGET_MIB:.0f} MiB",
            f"{res.get_rss:.1f} MiB",
            res.get_rss <= RSS_TARGET_MIB,
            "",
        ),
        Row(
            "datasets: hashing (page cache warm)",
            f"≥ {HASH_TARGET:.0f} MiB/s",
            f"{res.hashing:.0f} MiB/s",
            res.hashing >= HASH_TARGET,
            "tether._datasets.manifest, 4 threads",
        ),
    ]
    if res.sdk_direct_put is not None:
        rows.append(
            Row(
                "artifacts: SDK direct (presigned) upload",
                "≈ store speed",
                f"{res.sdk_direct_put:.0f} MiB/s",
                None,
                f"parallel 16 MiB parts; includes the server's sha256 read-back; minio put "
                f"{res.direct_put:.0f} MiB/s",
            )
        )
    return rows


def run(ctx: Context) -> list[Row]:
    size_mib = 128 if ctx.quick else 1024
    s3 = s3_config()
    if s3 is None:
        return rows_of(measure_local(ctx, size_mib))
    res = measure_s3(
        size_mib,
        s3,
        database_url=ctx.database_url,
        admin_token=ctx.admin_token,
        token=lambda _base: ctx.user("writer")[1],
    )
    return rows_of(res)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    s3 = s3_config() or ("http://127.0.0.1:7480", "testak", "testsecret")
    res = measure_s3(args.size_mib, s3)  # as the server's admin (TETHER_ADMIN_TOKEN)
    print(f"\nartifact benchmark, {res.size / MiB:.0f} MiB object, store {s3[0]}")
    for r in rows_of(res):
        ok = {True: "PASS", False: "FAIL", None: ""}[r.ok]
        print(f"  {r.metric:<44} {r.target:>14} {r.measured:>22}  {ok:<4}  {r.notes}")


if __name__ == "__main__":
    main()
