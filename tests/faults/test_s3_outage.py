"""The S3 server (our own Ceph RGW) stops during uploads and starts again.

Promises: uploads fail with 503 + Retry-After (never 500); no database row points at a missing object;
after the restart, ``tether gc`` leaves no object that no row points at.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from minio import Minio
from sqlalchemy import create_engine, text

from .conftest import S3_ACCESS_KEY, S3_SECRET_KEY, Services
from .live import Api, run_cli, server_env, tether_server, wait_until
from .workload import blob

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]


def test_s3_outage_during_uploads(services: Services, tmp_path: Path) -> None:
    db_url = services.new_database()
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    env = server_env(tmp_path / "data", db_url, services.s3_env(bucket))
    with tether_server(env, workers=1, threads=4) as srv:
        api = Api(srv.url)
        exp = api.ok("POST", "/experiments", 201, json={"name": "s3"})["id"]
        run_id = api.ok("POST", "/runs", 201, json={"experiment_id": exp})["id"]
        stored: dict[str, str] = {}
        unknown: set[str] = set()
        statuses: list[int] = []
        stop = threading.Event()

        def uploader(w: int) -> None:
            n = 0
            while not stop.is_set():
                path, data = f"u{w}/f{n}.bin", blob(f"{w}-{n}", 64 * 1024 + n)
                try:
                    r = api.call("PUT", f"/runs/{run_id}/artifacts/{path}", data=data)
                except requests.ConnectionError:
                    # no answer: the server answered 503 before reading the body and closed the
                    # connection while we were still sending; the outcome is unknown to us
                    unknown.add(path)
                    n += 1
                    continue
                statuses.append(r.status_code)
                if r.status_code == 201:
                    stored[path] = hashlib.sha256(data).hexdigest()
                else:
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"] == "UNAVAILABLE"
                n += 1
                time.sleep(0.05)

        threads = [threading.Thread(target=uploader, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(2)
        services.stop_rgw()
        time.sleep(5)
        failed_while_down = statuses.count(503)
        services.start_rgw()
        wait_until(lambda: statuses[-3:] == [201, 201, 201], 60, "uploads to succeed again")
        stop.set()
        for t in threads:
            t.join(120)

        assert set(statuses) == {201, 503} and failed_while_down > 0, sorted(set(statuses))
        assert api.retry_after_missing == 0
        assert not srv.errors_logged(), "".join(srv.errors_logged())[:4000]
        # every stored artifact reads back exactly
        for path, sha in stored.items():
            r = api.call("GET", f"/runs/{run_id}/artifacts/{path}")
            assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha, path

    s3 = Minio(urlsplit(services.s3_endpoint).netloc, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False)
    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = {k for (k,) in c.execute(text("SELECT storage_key FROM artifacts"))}
        rows |= {k for (k,) in c.execute(text("SELECT storage_key FROM model_version_files"))}
        paths = {p for (p,) in c.execute(text("SELECT path FROM artifacts WHERE run_id = :r"), {"r": run_id})}
    eng.dispose()
    # a row for each acknowledged upload, none for a refused one
    assert set(stored) <= paths <= set(stored) | unknown
    for key in rows:  # no row points at a missing object
        s3.stat_object(bucket, "art/" + key)

    gc = run_cli(env, "gc", "--grace-minutes", "0")
    assert gc.returncode == 0, gc.stderr
    objects = {
        o.object_name.removeprefix("art/") for o in s3.list_objects(bucket, prefix="art/", recursive=True)
    }
    assert objects == rows, (sorted(objects - rows)[:5], sorted(rows - objects)[:5])
