"""Artifact benchmark: proxied upload/download through a gunicorn server vs direct minio put/get,
server RSS growth during transfers, and dataset hashing speed. Prints a table.

    TETHER_BENCH_S3_ENDPOINT=http://127.0.0.1:7480 TETHER_BENCH_S3_ACCESS_KEY=... \
    TETHER_BENCH_S3_SECRET_KEY=... python bench/artifacts.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from minio import Minio

HERE = Path(__file__).resolve().parent.parent


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
        return (self.peak - self.base) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    ep = os.environ.get("TETHER_BENCH_S3_ENDPOINT", "http://127.0.0.1:7480")
    ak, sk = os.environ.get("TETHER_BENCH_S3_ACCESS_KEY", "testak"), os.environ.get("TETHER_BENCH_S3_SECRET_KEY", "testsecret")
    work = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    src = work / "blob.bin"
    with open(src, "wb") as fh:
        block = os.urandom(8 * 1024 * 1024)
        for _ in range(args.size_mib // 8):
            fh.write(block)
    size = src.stat().st_size
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    rows: list[tuple[str, str]] = []

    mc = Minio(ep.split("://")[1], ak, sk, secure=ep.startswith("https"), region="us-east-1")
    mc.make_bucket(bucket)
    t = time.perf_counter()
    with open(src, "rb") as fh:
        mc.put_object(bucket, "direct", fh, size, part_size=8 * 1024 * 1024, num_parallel_uploads=2)
    direct_put = size / (time.perf_counter() - t) / 2**20
    t = time.perf_counter()
    resp = mc.get_object(bucket, "direct")
    for _ in resp.stream(1024 * 1024):
        pass
    resp.release_conn()
    direct_get = size / (time.perf_counter() - t) / 2**20

    port = free_port()
    env = {**os.environ, "TETHER_DATA_DIR": str(work / "data"), "TETHER_ARTIFACT_URI": f"s3://{bucket}/tether",
           "TETHER_S3_ENDPOINT": ep, "TETHER_S3_ACCESS_KEY": ak, "TETHER_S3_SECRET_KEY": sk,
           "TETHER_ADMIN_TOKEN": "bench-admin-token-0123456789", "TETHER_LOG_LEVEL": "WARNING"}
    subprocess.run([str(Path(sys.executable).parent / "tether"), "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    token = subprocess.run([str(Path(sys.executable).parent / "tether"), "users", "create", "bench", "--role",
                            "admin"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    srv = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{port}",
                            "tether_server.wsgi:app"], env=env, cwd=HERE,
                           stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/api/v1/health", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        h = {"Authorization": f"Bearer {token}"}
        eid = requests.post(base + "/api/v1/experiments", json={"name": "bench"}, headers=h).json()["id"]
        rid = requests.post(base + "/api/v1/runs", json={"experiment_id": eid}, headers=h).json()["id"]
        pids = [srv.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(srv.pid)], capture_output=True,
                                                           text=True).stdout.split()]
        watch = RssWatch(pids)
        t = time.perf_counter()
        with open(src, "rb") as fh:
            r = requests.put(f"{base}/api/v1/runs/{rid}/artifacts/blob.bin", data=fh, headers=h, timeout=600)
        proxied_put = size / (time.perf_counter() - t) / 2**20
        put_rss = watch.growth_mib()
        assert r.status_code == 201, r.text
        watch = RssWatch(pids)
        t = time.perf_counter()
        with requests.get(f"{base}/api/v1/runs/{rid}/artifacts/blob.bin", headers=h, stream=True) as r:
            for _ in r.iter_content(1024 * 1024):
                pass
        proxied_get = size / (time.perf_counter() - t) / 2**20
        get_rss = watch.growth_mib()
    finally:
        srv.terminate()
        srv.wait(10)

    sys.path.insert(0, str(HERE / "client"))
    from tether._datasets import manifest

    manifest(work)  # warm the page cache
    t = time.perf_counter()
    manifest(work)
    hashing = sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / (time.perf_counter() - t) / 2**20

    rows += [("direct minio put", f"{direct_put:.0f} MiB/s"), ("proxied PUT", f"{proxied_put:.0f} MiB/s "
             f"({100 * proxied_put / direct_put:.0f}%)"), ("direct minio get", f"{direct_get:.0f} MiB/s"),
             ("proxied GET", f"{proxied_get:.0f} MiB/s ({100 * proxied_get / direct_get:.0f}%)"),
             ("server RSS growth, PUT", f"{put_rss:.1f} MiB"), ("server RSS growth, GET", f"{get_rss:.1f} MiB"),
             ("dataset hashing (cached)", f"{hashing:.0f} MiB/s")]
    print(f"\nartifact benchmark, {size / 2**20:.0f} MiB object, store {ep}")
    for k, v in rows:
        print(f"  {k:<28} {v}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    from minio.deleteobjects import DeleteObject

    objs = [DeleteObject(o.object_name) for o in mc.list_objects(bucket, recursive=True)]
    list(mc.remove_objects(bucket, objs))
    mc.remove_bucket(bucket)  # a memstore-backed test gateway holds only a few GiB


if __name__ == "__main__":
    main()
