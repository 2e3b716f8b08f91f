"""A model with a Production version whose run logged a validation metric and a profiled
training dataset (the reference), built through the API plus direct rows for what belongs to
other features (dataset profiles, the stage change)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.registry.helpers import create_model, register, training_run
from tether._datasets import _profile
from tether_server.runtime import Runtime

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, aligned to hours


def profile_of(frame: dict[str, list[Any]]) -> dict[str, Any]:
    names = list(frame)
    rows = list(zip(*frame.values(), strict=True))
    return _profile(names, lambda: iter(rows))[1]


def reference_frame(seed: int = 0, n: int = 5000) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    return {
        "age": rng.normal(40, 10, n).round(3).tolist(),
        "income": rng.lognormal(10, 0.5, n).round(2).tolist(),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]).tolist(),
    }


def add_profiled_dataset(
    app: Any, run_id: str, profile: dict[str, Any], name: str = "churn-train", digest: str = "ab" * 32
) -> int:
    from tether_server.models import Dataset, DatasetVersion, RunInput

    with Runtime.of(app).database.session() as s:
        ds = Dataset(name=name)
        s.add(ds)
        s.flush()
        dv = DatasetVersion(
            dataset_id=ds.id, root_hash=digest, file_count=1, total_bytes=10, manifest=[], profile=profile
        )
        s.add(dv)
        s.flush()
        s.add(RunInput(run_id=run_id, dataset_version_id=dv.id, context="training"))
        s.commit()
        return dv.id


def set_stage(app: Any, model: str, version: int, stage: str) -> None:
    from sqlalchemy import select, update

    from tether_server.models.registry import ModelVersion, RegisteredModel

    with Runtime.of(app).database.session() as s:
        mid = s.scalar(select(RegisteredModel.id).where(RegisteredModel.name == model))
        if stage == "Production":
            s.execute(
                update(ModelVersion)
                .where(ModelVersion.model_id == mid, ModelVersion.stage == "Production")
                .values(stage="Archived")
            )
        s.execute(
            update(ModelVersion)
            .where(ModelVersion.model_id == mid, ModelVersion.version == version)
            .values(stage=stage)
        )
        s.commit()


def log_metric(client: Any, headers: dict[str, str], run_id: str, key: str, value: float) -> None:
    r = client.post(
        f"/api/v1/runs/{run_id}/batch",
        headers=headers,
        json={"metrics": [{"key": key, "value": value, "step": 2, "timestamp": 2}]},
    )
    assert r.status_code == 200, r.json


def production_model(
    app: Any,
    client: Any,
    headers: dict[str, str],
    name: str = "churn",
    *,
    accuracy: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    model = create_model(client, headers, name)
    rid = training_run(client, headers, exp_name=f"train-{name}-{seed}")
    log_metric(client, headers, rid, "accuracy", accuracy)
    frame = reference_frame(seed)
    dv = add_profiled_dataset(app, rid, profile_of(frame), name=f"{name}-train-{seed}")
    v = register(client, headers, name, rid)
    set_stage(app, name, v["version"], "Production")
    return {"model": model, "run_id": rid, "version": v["version"], "dataset_version_id": dv, "frame": frame}


def new_version(app: Any, client: Any, headers: dict[str, str], name: str, seed: int) -> int:
    rid = training_run(client, headers, exp_name=f"train-{name}-{seed}")
    log_metric(client, headers, rid, "accuracy", 0.91)
    add_profiled_dataset(
        app, rid, profile_of(reference_frame(seed)), name=f"{name}-train-{seed}", digest=f"{seed:02d}" * 32
    )
    v = register(client, headers, name, rid)["version"]
    set_stage(app, name, v, "Production")
    return v


def create_monitor(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"name": "prod", "model": "churn", "stage": "production", **extra}
    r = client.post("/api/v1/monitors", headers=headers, json=body)
    assert r.status_code == 201, r.json
    return r.json


def production_rows(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, ts: int = T0
) -> list[dict[str, Any]]:
    age = rng.normal(40 + shift * 10, 10, n)
    income = rng.lognormal(10, 0.5, n)
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2])
    return [
        {"age": float(a), "income": float(i), "plan": str(p), "timestamp": ts}
        for a, i, p in zip(age, income, plan, strict=True)
    ]


def post_rows(
    client: Any, headers: dict[str, str], mid: int, ws: int, shift: float, seed: int, n: int = 1000
) -> None:
    """``n`` seeded production rows in the window starting at ``ws``, posted to monitor ``mid``."""
    rows = production_rows(np.random.default_rng(seed), n, shift=shift, ts=ws)
    r = client.post(f"/api/v1/monitors/{mid}/rows", headers=headers, json={"rows": rows})
    assert r.status_code == 200, r.json
