"""Two ``tether server`` processes on different ports share one PostgreSQL and one S3 (the scale-out
shape in the README, behind a load balancer without sticky sessions).

32 writers spread over both (100,000 metric points in batches, runs created and finished, artifacts),
the same transition request approved on both at once, and webhooks to a receiver that deduplicates by
event id: 0 points lost or duplicated, 0 server errors, one version in Production, every event
delivered once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .conftest import Services
from .live import Api, server_env, tether_server, wait_until
from .receiver import DedupReceiver
from .workload import blob, setup_registry

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]
WRITERS, POINTS, BATCH = 32, 100_000, 625  # 32 x 5 batches x 625 = 100,000


def test_two_instances_share_one_database_and_store(services: Services, tmp_path: Path) -> None:
    db_url = services.new_database()
    s3 = services.s3_env(f"two-{uuid.uuid4().hex[:8]}")
    env_a = server_env(tmp_path / "a", db_url, s3)
    env_b = server_env(tmp_path / "b", db_url, s3)
    with DedupReceiver() as receiver, tether_server(env_a, workers=1, threads=8) as a:
        with tether_server(env_b, workers=1, threads=8) as b:
            apis = [Api(a.url), Api(b.url)]
            reg_run, reviewer_a, _ = setup_registry(apis[0], "rev1", "shared")
            apis[0].ok("POST", "/webhooks", 201, json={"url": receiver.url, "events": ["*"]})
            user2 = apis[1].ok(
                "POST", "/users", 201, json={"name": "rev2", "role": "reviewer", "token_name": "t"}
            )
            model_id = apis[1].ok("GET", "/models/shared")["id"]
            r = apis[1].call(
                "PUT",
                "/permissions",
                json={
                    "user_id": user2["id"],
                    "resource_type": "model",
                    "resource_id": str(model_id),
                    "level": "READ",
                },
            )
            assert r.status_code in (200, 201), r.text
            reviewer_b = Api(b.url, user2["token"])
            exp = apis[0].ok("POST", "/experiments", 201, json={"name": "two"})["id"]
            runs: dict[int, str] = {}
            shas: dict[tuple[str, str], str] = {}
            lock = threading.Lock()

            def writer(w: int) -> None:
                api = apis[w % 2]
                run_id = api.ok("POST", "/runs", 201, json={"experiment_id": exp})["id"]
                per = POINTS // WRITERS
                for b0 in range(0, per, BATCH):  # alternate instances: no stickiness needed
                    metrics = [{"key": "m", "value": float(s), "step": s} for s in range(b0, b0 + BATCH)]
                    apis[(w + b0 // BATCH) % 2].ok(
                        "POST",
                        f"/runs/{run_id}/batch",
                        json={"metrics": metrics},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                data = blob(f"two-{w}", 10_000)
                apis[(w + 1) % 2].ok("PUT", f"/runs/{run_id}/artifacts/out.bin", 201, data=data)
                api.ok("PATCH", f"/runs/{run_id}", json={"status": "FINISHED"})
                with lock:
                    runs[w] = run_id
                    shas[(run_id, "out.bin")] = hashlib.sha256(data).hexdigest()

            # versions to race: each version's request is approved on both instances at once
            versions = [
                apis[i % 2].ok(
                    "POST", "/models/shared/versions", 201, json={"run_id": reg_run, "artifact_path": "model"}
                )["version"]
                for i in range(3)
            ]
            reqs = [
                apis[0].ok(
                    "POST",
                    f"/models/shared/versions/{v}/transition-requests",
                    201,
                    json={"to_stage": "Production", "comment": "go"},
                )["id"]
                for v in versions
            ]
            with ThreadPoolExecutor(WRITERS + 2 * len(reqs)) as pool:
                writes = [pool.submit(writer, w) for w in range(WRITERS)]
                barrier = threading.Barrier(2 * len(reqs))

                def approve(api: Api, req: int) -> int:
                    barrier.wait()
                    return api.call(
                        "POST", f"/transition-requests/{req}/approve", json={"comment": "ok"}
                    ).status_code

                approvals = [pool.submit(approve, api, r) for r in reqs for api in (reviewer_a, reviewer_b)]
                for f in writes:
                    f.result()
                outcomes = [f.result() for f in approvals]
            for i in range(len(reqs)):  # the same request on both instances: one wins, one gets 409
                assert sorted(outcomes[2 * i : 2 * i + 2]) == [200, 409], outcomes

            stages = [v["stage"] for v in apis[1].ok("GET", "/models/shared/versions")["items"]]
            assert stages.count("Production") == 1, stages
            for api in (*apis, reviewer_a, reviewer_b):
                assert not any(s >= 500 for s in api.statuses), api.statuses
            for (run_id, path), sha in shas.items():
                r = apis[1].call("GET", f"/runs/{run_id}/artifacts/{path}")
                assert hashlib.sha256(r.content).hexdigest() == sha

            eng = create_engine(db_url)

            def deliveries() -> list[tuple[str, str]]:
                with eng.connect() as c:
                    return [
                        (s, p) for s, p in c.execute(text("SELECT status, payload FROM webhook_deliveries"))
                    ]

            wait_until(lambda: all(s == "delivered" for s, _ in deliveries()), 60, "webhook deliveries")
            event_ids = {json.loads(p)["id"] for _, p in deliveries()}
            assert len(event_ids) >= 3 + 3 + 3  # versions created, requested, approved (+ stage changes)
            assert receiver.events == event_ids and receiver.duplicates == 0
            with eng.connect() as c:
                n, distinct = c.execute(
                    text("SELECT count(*), count(DISTINCT (run_id, step)) FROM metrics WHERE key = 'm'")
                ).one()
                finished = c.execute(
                    text("SELECT count(*) FROM runs WHERE experiment_id = :e AND status = 'FINISHED'"),
                    {"e": exp},
                ).scalar()
            eng.dispose()
            assert (n, distinct, finished) == (POINTS, POINTS, WRITERS)
            assert not a.errors_logged() and not b.errors_logged()
