"""Concurrency against a real threaded server: approvals race, registrations race."""

from __future__ import annotations

import threading

import requests

from tests.registry.helpers import create_model, grant, register, request_stage, reviewer, training_run


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, fn):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_approvals_leave_exactly_one_production(app, client, auth, users, live_server, backend):
    run_id = training_run(client, auth)
    model = create_model(client, auth)
    n = 4
    for _ in range(n):
        register(client, auth, "churn", run_id)
    reqs = [request_stage(client, auth, "churn", v, "Production")["id"] for v in range(1, n + 1)]
    revs = []
    for i in range(n):
        uid, headers = reviewer(users, f"rev{i}")
        grant(client, auth, uid, model["id"])
        revs.append(headers)
    calls = [
        lambda r=r, h=h: requests.post(
            f"{live_server}/api/v1/transition-requests/{r}/approve",
            json={"comment": "ok"},
            headers=h,
            timeout=60,
        )
        for r, h in zip(reqs, revs, strict=True)
    ]
    statuses = [r.status_code for r in _race(calls)]
    assert all(s in (200, 409) for s in statuses), statuses
    versions = client.get("/api/v1/models/churn/versions", headers=auth).json["items"]
    prod = [v["version"] for v in versions if v["stage"] == "Production"]
    assert len(prod) == 1, versions
    approved = [v for v in range(1, n + 1) if statuses[v - 1] == 200]
    # Every approval that succeeded promoted its version, and all but the last were archived.
    assert prod[0] in approved
    assert {v["version"] for v in versions if v["stage"] == "Archived"} == set(approved) - {prod[0]}


def test_same_request_approved_by_two_reviewers_at_once(app, client, auth, users, live_server, backend):
    run_id = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", run_id)
    req = request_stage(client, auth, "churn", 1, "Production")["id"]
    revs = []
    for i in range(2):
        uid, headers = reviewer(users, f"rev{i}")
        grant(client, auth, uid, model["id"])
        revs.append(headers)
    results = _race(
        [
            lambda h=h: requests.post(
                f"{live_server}/api/v1/transition-requests/{req}/approve",
                json={"comment": "ok"},
                headers=h,
                timeout=60,
            )
            for h in revs
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    got = client.get(f"/api/v1/transition-requests/{req}", headers=revs[0]).json
    assert got["status"] == "approved" and len(got["approvals"]) == 1


def test_concurrent_registrations_get_distinct_gapless_numbers(app, client, auth, live_server, backend):
    run_id = training_run(client, auth, files={"model/w.bin": b"w" * 100})
    create_model(client, auth)
    n = 8
    calls = [
        lambda: requests.post(
            f"{live_server}/api/v1/models/churn/versions",
            headers=auth,
            timeout=60,
            json={"run_id": run_id, "artifact_path": "model"},
        )
        for _ in range(n)
    ]
    results = _race(calls)
    assert [r.status_code for r in results] == [201] * n, [r.text for r in results if r.status_code != 201]
    assert sorted(r.json()["version"] for r in results) == list(range(1, n + 1))
