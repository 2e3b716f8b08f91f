from __future__ import annotations

from tests.conftest import bearer


def test_health_is_public(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json["status"] == "ok"


def test_experiment_flow(client, auth):
    r = client.post("/api/v1/experiments", json={"name": "churn", "tags": {"team": "growth"}}, headers=auth)
    assert r.status_code == 201, r.json
    eid = r.json["id"]
    r = client.post("/api/v1/runs", json={"experiment_id": eid, "name": "r1"}, headers=auth)
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    r = client.post(
        f"/api/v1/runs/{rid}/batch",
        headers=auth,
        json={
            "params": {"lr": "0.1"},
            "tags": {"a": "b"},
            "metrics": [
                {"key": "loss", "value": 1.0, "step": 0, "timestamp": 1},
                {"key": "loss", "value": "NaN", "step": 1, "timestamp": 2},
            ],
        },
    )
    assert r.status_code == 200, r.json
    r = client.get(f"/api/v1/runs/{rid}", headers=auth)
    assert r.json["metrics"]["loss"]["value"] == "NaN"
    _ = bearer
