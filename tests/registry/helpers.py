"""Shared steps for registry tests: a training run with artifacts and a dataset input, reviewers."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.api.helpers import new_experiment, new_run
from tests.conftest import bearer
from tether_server.runtime import Runtime

FILES = {
    "model/weights.bin": b"\x00\x01weights" * 1000,
    "model/config.json": b'{"layers": 3}',
    "model/sub/tokenizer.txt": b"a b c",
    "other/notes.txt": b"not part of the model",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: Any, headers: dict[str, str], run_id: str, path: str, data: bytes) -> None:
    r = client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", data=data, headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)


def training_run(
    client: Any, headers: dict[str, str], exp_name: str = "train", files: dict[str, bytes] | None = None
) -> str:
    eid = new_experiment(client, headers, exp_name)
    rid = new_run(client, headers, eid, name="fit")
    r = client.post(
        f"/api/v1/runs/{rid}/batch",
        headers=headers,
        json={
            "params": {"lr": "0.1"},
            "metrics": [
                {"key": "auc", "value": 0.91, "step": 1, "timestamp": 1},
                {"key": "loss", "value": "NaN", "step": 1, "timestamp": 1},
            ],
        },
    )
    assert r.status_code == 200, r.json
    for path, data in (files or FILES).items():
        upload(client, headers, rid, path, data)
    return rid


def add_dataset_input(app: Any, run_id: str, name: str = "churn-data", root_hash: str = "ab" * 32) -> int:
    """Dataset tables belong to the datasets feature; rows are written directly here."""
    from tether_server.models import Dataset, DatasetVersion, RunInput

    with Runtime.of(app).database.session() as s:
        ds = Dataset(name=name)
        s.add(ds)
        s.flush()
        dv = DatasetVersion(
            dataset_id=ds.id,
            root_hash=root_hash,
            file_count=1,
            total_bytes=10,
            manifest=[{"path": "x.csv", "size": 10, "sha256": "cd" * 32}],
        )
        s.add(dv)
        s.flush()
        s.add(RunInput(run_id=run_id, dataset_version_id=dv.id, context="training"))
        s.commit()
        return dv.id


def create_model(client: Any, headers: dict[str, str], name: str = "churn") -> dict[str, Any]:
    r = client.post("/api/v1/models", json={"name": name, "description": "churn model"}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def register(
    client: Any, headers: dict[str, str], name: str, run_id: str, path: str = "model", **extra: Any
) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/models/{name}/versions",
        headers=headers,
        json={"run_id": run_id, "artifact_path": path, **extra},
    )
    assert r.status_code == 201, r.json
    return r.json


def request_stage(
    client: Any, headers: dict[str, str], name: str, version: int, stage: str, status: int = 201
) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/models/{name}/versions/{version}/transition-requests",
        headers=headers,
        json={"to_stage": stage, "comment": f"ship v{version}"},
    )
    assert r.status_code == status, r.json
    return r.json


def grant(
    client: Any, owner_headers: dict[str, str], user_id: int, model_id: int, level: str = "READ"
) -> None:
    r = client.put(
        "/api/v1/permissions",
        headers=owner_headers,
        json={"user_id": user_id, "resource_type": "model", "resource_id": str(model_id), "level": level},
    )
    assert r.status_code in (200, 201), r.json


def reviewer(users: Any, name: str) -> tuple[int, dict[str, str]]:
    uid, token = users.create(name, "reviewer")
    return uid, bearer(token)


def version_keys(app: Any, model: str, version: int) -> dict[str, str]:
    """path → storage key of a version's files (keys are server-built: registry/<model>/<uuid>/...)."""
    from sqlalchemy import select

    from tether_server.models.registry import ModelVersion, ModelVersionFile, RegisteredModel

    with Runtime.of(app).database.session(write=False) as s:
        rows = s.execute(
            select(ModelVersionFile.path, ModelVersionFile.storage_key)
            .join(ModelVersion, ModelVersion.id == ModelVersionFile.version_id)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(RegisteredModel.name == model, ModelVersion.version == version)
        ).all()
    return dict(rows)
