"""A model with a Production version (v1) and a challenger alias (v2), and window builders."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conftest import bearer
from tests.registry.helpers import create_model, grant, register, request_stage, training_run

SMALL = {"model/weights.bin": b"w" * 64}


def model_with_challenger(client: Any, headers: dict[str, str], reviewer: tuple[int, dict[str, str]],
                          name: str = "churn", versions: int = 2) -> dict[str, Any]:  # fmt: skip
    model = create_model(client, headers, name)
    grant(client, headers, reviewer[0], model["id"], "READ")
    reviewer_headers = reviewer[1]
    for i in range(versions):
        register(client, headers, name, training_run(client, headers, f"train-{name}-{i}", SMALL))
    req = request_stage(client, headers, name, 1, "Production")
    r = client.post(f"/api/v1/transition-requests/{req['id']}/approve", headers=reviewer_headers,
                    json={"comment": "ok"})  # fmt: skip
    assert r.status_code == 200, r.json
    r = client.put(f"/api/v1/models/{name}/aliases/challenger", headers=headers, json={"version": 2})
    assert r.status_code in (200, 201), r.json
    return model


def new_test(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"model": "churn", "name": "ctr", "control": "Production", "treatments": ["challenger"],
            "traffic": [0.5, 0.5], "metric": "conversion", "metric_type": "proportion", **extra}  # fmt: skip
    r = client.post("/api/v1/ab-tests", headers=headers, json=body)
    assert r.status_code == 201, r.json
    return r.json


def proportion_windows(rng: np.random.Generator, n: list[int], p: list[float], arms: list[str],
                       window_start: int = 0, source: str = "sim") -> list[dict[str, Any]]:  # fmt: skip
    return [{"arm": a, "metric": "conversion", "window_start": window_start, "source": source, "n": int(k),
             "successes": int(rng.binomial(k, q))} for a, k, q in zip(arms, n, p, strict=True)]  # fmt: skip


def mean_windows(rng: np.random.Generator, n: list[int], mu: list[float], arms: list[str], metric: str,
                 window_start: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for a, k, m in zip(arms, n, mu, strict=True):
        y = rng.normal(m, 10.0, size=k)
        out.append({"arm": a, "metric": metric, "window_start": window_start, "source": "sim", "n": k,
                    "sum": float(y.sum()), "sum_sq": float(y @ y), "events": k})  # fmt: skip
    return out


def post(client: Any, headers: dict[str, str], test_id: int, body: dict[str, Any], **kw: Any) -> Any:
    return client.post(f"/api/v1/ab-tests/{test_id}/outcomes", headers=headers, json=body, **kw)


__all__ = ["bearer", "model_with_challenger", "new_test", "proportion_windows", "mean_windows", "post"]
