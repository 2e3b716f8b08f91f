"""Explanations in monitoring (issue 13): the importance-weighted dataset-drift rule uses the live
version's explanation when the monitor sets no ``importances`` of its own, follows a promotion to a
version with different importances, and yields to the monitor's explicit setting.

Data: ``age`` is shifted by one standard deviation in every window (it drifts), ``income`` and
``plan`` are drawn from the reference distribution (seeded, n=1000: they stay ok), so the unweighted
verdict (1 of 3 columns, below the 0.5 share) never fires and the weighted share is exactly the
share of importance carried by ``age``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.registry.helpers import register, training_run

from .helpers import (
    HOUR,
    T0,
    add_profiled_dataset,
    create_monitor,
    log_metric,
    production_model,
    production_rows,
    profile_of,
    reference_frame,
    set_stage,
)
from .test_api import _evaluate

V1 = {"age": 0.8, "income": -0.15, "plan": 0.05}  # a negative coefficient weighs by its magnitude
V2 = {"age": 0.05, "income": 0.5, "plan": 0.45}


def _window(app: Any, client: Any, auth: dict[str, str], mid: int, rng: Any, k: int) -> dict[str, Any]:
    """Rows with ``age`` shifted into window ``k``, one evaluator pass once it closed, the drift."""
    r = client.post(
        f"/api/v1/monitors/{mid}/rows",
        headers=auth,
        json={"rows": production_rows(rng, 1000, shift=1.0, ts=T0 + k * HOUR)},
    )
    assert r.status_code == 200, r.json
    _evaluate(app, T0 + (k + 2) * HOUR)
    drift = client.get(f"/api/v1/monitors/{mid}/drift?from={T0}&to={T0 + 20 * HOUR}", headers=auth).json
    return drift


def _weighted(client: Any, auth: dict[str, str], mid: int) -> list[dict[str, Any]]:
    return [
        a
        for a in client.get(f"/api/v1/alerts?monitor={mid}", headers=auth).json["items"]
        if a["rule"] == "dataset_drift_weighted"
    ]


def _share(importances: dict[str, float], drifted: list[str]) -> float:
    """The oracle: sum of |importance| over drifted columns / sum over all monitored columns."""
    total = sum(abs(v) for v in importances.values())
    return sum(abs(importances[c]) for c in drifted) / total


def test_weighted_rule_uses_live_version_explanation_and_follows_promotion(
    app: Any, client: Any, auth: dict[str, str]
) -> None:
    production_model(app, client, auth)
    # v1 is in Production without an explanation: it may get one once
    r = client.put(
        "/api/v1/models/churn/versions/1/explanation",
        headers=auth,
        json={"importances": V1, "method": "coefficient"},
    )
    assert r.status_code == 200, r.json
    m = create_monitor(client, auth)
    assert m["importances"] is None  # nothing set on the monitor: the live version's explanation is used
    rng = np.random.default_rng(5)

    drift = _window(app, client, auth, m["id"], rng, 0)
    w0 = drift["windows"][0]
    assert w0["model_version"] == 1
    assert w0["columns"]["age"]["drifted"] and w0["dataset"]["drifted_columns"] == ["age"]
    assert w0["dataset"]["drifted_share"] == pytest.approx(1 / 3)  # the unweighted rule stays quiet
    assert w0["dataset"]["weighted_share"] == pytest.approx(_share(V1, ["age"]))  # 0.8
    assert w0["dataset"]["weighted_drifted"] is True
    assert w0["dataset"]["importances_from"] == "explanation of version 1"
    assert drift["importances"] == {k: abs(v) for k, v in V1.items()}
    assert drift["importances_from"] == "explanation of version 1"
    (alert,) = _weighted(client, auth, m["id"])
    assert alert["status"] == "open" and alert["severity"] == "alert"
    assert "age" in alert["message"] and "80%" in alert["message"] and "version 1" in alert["message"]
    assert not [
        a
        for a in client.get(f"/api/v1/alerts?monitor={m['id']}", headers=auth).json["items"]
        if a["rule"] == "dataset_drift"
    ]

    # promote v2, whose run logged an explanation in which age hardly matters
    rid = training_run(client, auth, exp_name="train-churn-v2")
    log_metric(client, auth, rid, "accuracy", 0.91)
    add_profiled_dataset(app, rid, profile_of(reference_frame(1)), name="churn-train-1", digest="01" * 32)
    r = client.put(
        f"/api/v1/runs/{rid}/explanation", headers=auth, json={"importances": V2, "method": "permutation"}
    )
    assert r.status_code == 200, r.json
    assert register(client, auth, "churn", rid)["version"] == 2
    set_stage(app, "churn", 2, "Production")

    for k in (1, 2):
        drift = _window(app, client, auth, m["id"], rng, k)
        w = drift["windows"][k]
        assert w["model_version"] == 2
        assert w["dataset"]["drifted_columns"] == ["age"]  # age still drifts...
        assert w["dataset"]["weighted_share"] == pytest.approx(_share(V2, ["age"]))  # ...but weighs 5%
        assert w["dataset"]["weighted_drifted"] is False
        assert w["dataset"]["importances_from"] == "explanation of version 2"
    assert drift["importances"] == V2 and drift["importances_from"] == "explanation of version 2"
    # the window computed on v1 keeps v1's weights; the weighted alert resolved after 2 clean windows
    assert drift["windows"][0]["dataset"]["weighted_share"] == pytest.approx(0.8)
    (alert,) = _weighted(client, auth, m["id"])
    assert alert["status"] == "resolved"
    # the per-column drift alert on age is independent of the weights and stays open
    open_ = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    assert [(a["rule"], a["column"]) for a in open_] == [("drift", "age")]

    # an explicit monitor setting wins over the version's explanation
    explicit = {"age": 3.0, "income": 1.0}  # plan has no importance: it weighs 0
    r = client.patch(f"/api/v1/monitors/{m['id']}", headers=auth, json={"importances": explicit})
    assert r.status_code == 200, r.json
    drift = _window(app, client, auth, m["id"], rng, 3)
    w = drift["windows"][3]
    assert w["dataset"]["weighted_share"] == pytest.approx(0.75) and w["dataset"]["weighted_drifted"] is True
    assert w["dataset"]["importances_from"] == "monitor"
    assert drift["importances"] == explicit and drift["importances_from"] == "monitor"
    assert sorted(a["status"] for a in _weighted(client, auth, m["id"])) == ["open", "resolved"]


def test_no_explanation_no_weighted_verdict(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    drift = _window(app, client, auth, m["id"], np.random.default_rng(5), 0)
    ds = drift["windows"][0]["dataset"]
    assert "weighted_share" not in ds and "importances_from" not in ds
    assert drift["importances"] is None and drift["importances_from"] is None
    assert _weighted(client, auth, m["id"]) == []
