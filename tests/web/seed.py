"""Data for the browser tests, stored through the public API (the Flask test client of the same app)."""

from __future__ import annotations

from typing import Any

from tests.registry.helpers import add_dataset_input, create_model, register, training_run
from tether_server.runtime import Runtime


def experiment_with_runs(
    client: Any, headers: dict[str, str], n: int, name: str = "sweep", steps: int = 50
) -> tuple[int, list[str]]:
    r = client.post("/api/v1/experiments", json={"name": name}, headers=headers)
    assert r.status_code == 201, r.json
    eid = r.json["id"]
    ids = []
    for i in range(n):
        r = client.post("/api/v1/runs", json={"experiment_id": eid, "name": f"run-{i:03d}"}, headers=headers)
        assert r.status_code == 201, r.json
        rid = r.json["id"]
        metrics = [
            {"key": "loss", "value": (i + 1) / (s + 1), "step": s, "timestamp": 1000 + s}
            for s in range(steps)
        ]
        metrics.append({"key": "auc", "value": i / n, "step": steps, "timestamp": 5000})
        r = client.post(
            f"/api/v1/runs/{rid}/batch",
            headers=headers,
            json={
                "params": {"depth": str(i % 5), "lr": "0.1"},
                "tags": {"team": "growth" if i % 2 else "core"},
                "metrics": metrics,
            },
        )
        assert r.status_code == 200, r.json
        ids.append(rid)
    return eid, ids


def model_with_production(
    app: Any, client: Any, writer: dict[str, Any], reviewer: dict[str, Any], name: str = "churn"
) -> dict[str, Any]:
    """v1 approved into Production (by the reviewer), v2 registered from a run on changed data."""
    h = writer["headers"]
    run1 = training_run(client, h, "train-v1")
    dv1 = add_dataset_input(app, run1, "churn-data", "ab" * 32)
    create_model(client, h, name)
    register(client, h, name, run1)
    r = client.post(
        f"/api/v1/models/{name}/versions/1/transition-requests",
        headers=h,
        json={"to_stage": "Production", "comment": "first release"},
    )
    assert r.status_code == 201, r.json
    r = client.post(
        f"/api/v1/transition-requests/{r.json['id']}/approve",
        headers=reviewer["headers"],
        json={"comment": "ok for v1"},
    )
    assert r.status_code == 200, r.json
    run2 = training_run(client, h, "train-v2")
    _add_input(app, run2, "churn-data", "cd" * 32)
    register(client, h, name, run2)
    return {"run1": run1, "run2": run2, "dataset_version_1": dv1}


def _add_input(app: Any, run_id: str, dataset: str, root_hash: str) -> int:
    """A second version of an existing dataset (the datasets API computes hashes from manifests)."""
    from sqlalchemy import select

    from tether_server.models import Dataset, DatasetVersion, RunInput

    with Runtime.of(app).database.session() as s:
        ds_id = s.scalar(select(Dataset.id).where(Dataset.name == dataset))
        dv = DatasetVersion(
            dataset_id=ds_id,
            root_hash=root_hash,
            file_count=1,
            total_bytes=12,
            manifest=[{"path": "y.csv", "size": 12, "sha256": "ef" * 32}],
        )
        s.add(dv)
        s.flush()
        s.add(RunInput(run_id=run_id, dataset_version_id=dv.id, context="training"))
        s.commit()
        return dv.id
