"""Monitoring server throughput (issue 11), standalone, in-process (Flask test client, SQLite in a
temp folder unless ``--pg URL``): window posts with 50 columns, raw rows binned by the server
(10 numeric columns), and the monitor page's data (drift + performance for 30 days of hourly
windows x 50 columns). Prints a table; nothing here is a test.

    .venv/bin/python -m bench.monitoring [--pg postgresql+psycopg://...] [--posts 400]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import numpy as np

from tether.monitoring import build_summary
from tether_server.runtime import Runtime

HOUR = 3_600_000
T0 = 1_767_225_600_000


def _profile(rng: np.random.Generator, cols: int) -> dict[str, Any]:
    out = {}
    for j in range(cols):
        x = np.sort(rng.normal(j, 1.0, 20_000))
        edges = np.quantile(x, np.arange(1, 10) / 10).tolist()
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=10).tolist()
        out[f"c{j}"] = {
            "kind": "numeric",
            "type": "float",
            "count": len(x),
            "nulls": 0,
            "mean": float(x.mean()),
            "m2": float(((x - x.mean()) ** 2).sum()),
            "min": float(x[0]),
            "max": float(x[-1]),
            "bin_edges": edges,
            "bin_counts": counts,
        }
    return {"format": "tether.profile/1", "rows": 20_000, "columns": out}


def _setup(app: Any, client: Any, cols: int, name: str) -> tuple[dict[str, str], int, dict[str, Any]]:
    from sqlalchemy import update

    from tether_server.models import Dataset, DatasetVersion, RunInput
    from tether_server.models.registry import ModelVersion
    from tether_server.services.identity import users as svc

    db = Runtime.of(app).database
    with db.session() as s:
        u = svc.create_user(s, None, f"bench-{name}", "admin")
        _t, token = svc.create_token(s, None, u, "bench")
        s.commit()
    h = {"Authorization": f"Bearer {token}"}
    client.post("/api/v1/models", headers=h, json={"name": name})
    eid = client.post("/api/v1/experiments", headers=h, json={"name": f"e-{name}"}).json["id"]
    rid = client.post("/api/v1/runs", headers=h, json={"experiment_id": eid}).json["id"]
    client.put(f"/api/v1/runs/{rid}/artifacts/model/w.bin", headers=h, data=b"x")
    prof = _profile(np.random.default_rng(0), cols)
    with db.session() as s:
        ds = Dataset(name=f"d-{name}")
        s.add(ds)
        s.flush()
        dv = DatasetVersion(
            dataset_id=ds.id, root_hash="ab" * 32, file_count=1, total_bytes=1, manifest=[], profile=prof
        )
        s.add(dv)
        s.flush()
        s.add(RunInput(run_id=rid, dataset_version_id=dv.id, context="training"))
        s.commit()
    client.post(f"/api/v1/models/{name}/versions", headers=h, json={"run_id": rid, "artifact_path": "model"})
    with db.session() as s:
        s.execute(update(ModelVersion).values(stage="Production"))
        s.commit()
    mid = client.post(
        "/api/v1/monitors", headers=h, json={"name": "m", "model": name, "stage": "production"}
    ).json["id"]
    ref = client.get(f"/api/v1/monitors/{mid}/reference", headers=h).json
    return h, mid, ref


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="")
    ap.add_argument("--posts", type=int, default=400)
    args = ap.parse_args()
    from tether_server import create_app
    from tether_server.config import Settings
    from tether_server.db import Database
    from tether_server.migrate import upgrade
    from tether_server.workers.monitoring import evaluate_once

    tmp = tempfile.mkdtemp()
    url = args.pg or f"sqlite:///{tmp}/b.db"
    upgrade(Database(url).engine)
    app = create_app(
        Settings(
            data_dir=tmp, database_url=url, artifact_uri=f"{tmp}/a", secret_key="x", monitor_eval_seconds=0
        ).validated()
    )
    app.config["TETHER_ACCESS_LOG"] = False
    c = app.test_client()
    rng = np.random.default_rng(1)
    rows_out = []

    # 1. window posts, 50 columns, one source per post
    h, mid, ref = _setup(app, c, 50, "w50")
    data = {f"c{j}": rng.normal(j, 1.0, 500) for j in range(50)}
    summary = build_summary(ref["profile"], data)
    t = time.perf_counter()
    for i in range(args.posts):
        body = {
            "reference_id": ref["reference_id"],
            "window_start": T0 + (i % 24) * HOUR,
            "source": f"pod-{i}",
            "summary": summary,
        }
        assert c.post(f"/api/v1/monitors/{mid}/windows", headers=h, json=body).status_code == 200
    rows_out.append(("window posts/s (50 columns)", args.posts / (time.perf_counter() - t), 500))

    # 2. raw rows, 10 numeric columns, 10,000 per request
    h2, mid2, _ref2 = _setup(app, c, 10, "r10")
    batch = [
        {f"c{j}": float(v) for j, v in enumerate(row)} | {"timestamp": T0}
        for row in rng.normal(0, 1, (10_000, 10))
    ]
    t = time.perf_counter()
    reqs = 10
    for _ in range(reqs):
        assert c.post(f"/api/v1/monitors/{mid2}/rows", headers=h2, json={"rows": batch}).status_code == 200
    rows_out.append(("raw rows binned/s (10 numeric)", reqs * 10_000 / (time.perf_counter() - t), 100_000))

    # 3. monitor page data: 720 hourly windows x 50 columns, evaluated
    h3, mid3, ref3 = _setup(app, c, 50, "p50")
    for k in range(720):
        body = {
            "reference_id": ref3["reference_id"],
            "window_start": T0 + k * HOUR,
            "source": "pod",
            "summary": summary,
        }
        c.post(f"/api/v1/monitors/{mid3}/windows", headers=h3, json=body)
    evaluate_once(Runtime.of(app).database, T0 + 800 * HOUR)
    times = []
    for _ in range(15):
        t = time.perf_counter()
        r = c.get(f"/api/v1/monitors/{mid3}/drift?from={T0}&to={T0 + 720 * HOUR}", headers=h3)
        assert r.status_code == 200 and len(r.json["windows"]) == 720
        c.get(f"/api/v1/monitors/{mid3}/performance?from={T0}&to={T0 + 720 * HOUR}", headers=h3)
        c.get(f"/api/v1/alerts?monitor={mid3}", headers=h3)
        times.append((time.perf_counter() - t) * 1000)
    rows_out.append(("monitor page data p50 ms (720 x 50)", statistics.median(times), 150))
    print(f"{'measure':<40}{'value':>12}{'target':>10}")
    for name, v, target in rows_out:
        print(f"{name:<40}{v:>12,.1f}{target:>10,}")


if __name__ == "__main__":
    main()
