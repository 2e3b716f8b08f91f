"""The stock MLflow client on what MLflow's server allows and Tether added later: a flavor's
``log_model`` outside any run and into a finished run, ``MlflowClient.delete_tag``, and
``search_runs`` on ``datasets.*`` (SQLite and PostgreSQL, through ``live_server``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.conftest import Users, bearer
from tests.mlflow.conftest import run_mlflow

GAPS = """
import numpy as np
import pandas as pd
import mlflow
import mlflow.sklearn
from sklearn.linear_model import LinearRegression
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

X = np.arange(20, dtype=float).reshape(10, 2)
y = X @ np.array([1.0, 2.0]) + 3.0
fitted = LinearRegression().fit(X, y)
exp_id = mlflow.set_experiment("compat-gaps").experiment_id
client = MlflowClient()

# A model logged outside any run (MLflow 3 allows it), registered and loaded back.
assert mlflow.active_run() is None
free = mlflow.sklearn.log_model(fitted, name="free")
OUT["free_id"], OUT["free_run"] = free.model_id, client.get_logged_model(free.model_id).source_run_id
OUT["free_status"] = str(client.get_logged_model(free.model_id).status)
OUT["free_pred"] = mlflow.pyfunc.load_model(free.model_uri).predict(X[:2]).tolist()
mv = mlflow.register_model(free.model_uri, "free-model")
OUT["free_version"] = mv.version
OUT["free_registered_pred"] = mlflow.pyfunc.load_model("models:/free-model/1").predict(X[:2]).tolist()

# A model logged into a run that has already finished (MLflow's server accepts it).
with mlflow.start_run(run_name="done") as run:
    mlflow.log_metric("m", 1.0)
    mlflow.set_tag("drop-me", "x")
    mlflow.set_tag("keep-me", "y")
    client.delete_tag(run.info.run_id, "drop-me")
    OUT["tags_after_delete"] = sorted(k for k in client.get_run(run.info.run_id).data.tags if not k.startswith("mlflow."))
    try:
        client.delete_tag(run.info.run_id, "drop-me")
    except MlflowException as e:
        OUT["delete_again"] = e.error_code
    mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame(X, columns=["a", "b"]), name="gaps-data"), context="train")
OUT["done_run"] = run.info.run_id
OUT["done_status"] = client.get_run(run.info.run_id).info.status
late = mlflow.sklearn.log_model(fitted, name="late", run_id=run.info.run_id)
OUT["late_run"] = client.get_logged_model(late.model_id).source_run_id
OUT["late_pred"] = mlflow.pyfunc.load_model(late.model_uri).predict(X[:2]).tolist()
OUT["late_search"] = sorted(
    m.name for m in client.search_logged_models(experiment_ids=[exp_id])
)

# Inside a running run, log_model's copies of the run's step-0 points are not stored twice.
with mlflow.start_run(run_name="live") as live:
    mlflow.log_metric("live_m", 2.0)
    mlflow.sklearn.log_model(fitted, name="inrun")
OUT["live_points"] = len(client.get_metric_history(live.info.run_id, "live_m"))

# search_runs on the run's dataset inputs.
OUT["by_dataset"] = [r.info.run_id for r in client.search_runs([exp_id], "datasets.name = 'gaps-data'")]
OUT["by_context"] = [r.info.run_id for r in client.search_runs([exp_id], "datasets.context = 'train'")]
OUT["by_other"] = [r.info.run_id for r in client.search_runs([exp_id], "datasets.name LIKE 'nope%'")]
"""


def test_logged_model_without_run_and_on_finished_run(
    mlflow_python: Path, live_server: str, users: Users
) -> None:
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, GAPS)
    expected = [3.0 + 1.0 * (2 * i) + 2.0 * (2 * i + 1) for i in range(2)]
    for key in ("free_pred", "free_registered_pred", "late_pred"):
        assert out[key] == pytest.approx(expected), key
    assert "READY" in out["free_status"] and out["free_version"] == "1"
    assert out["done_status"] == "FINISHED" and out["late_run"] == out["done_run"]
    assert out["late_search"] == ["free", "late"]
    assert out["live_points"] == 1
    assert out["tags_after_delete"] == ["keep-me"] and out["delete_again"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["by_dataset"] == [out["done_run"]] == out["by_context"] and out["by_other"] == []
    # In Tether the model logged outside a run is held by a finished run of its own, named after it.
    api = requests.Session()
    api.headers.update(bearer(token))
    carrier = api.get(f"{live_server}/api/v1/runs/{out['free_run']}").json()
    assert carrier["name"] == "free" and carrier["status"] == "FINISHED"
    assert carrier["tags"]["tether.loggedModelRun"] == "true"
    version = api.get(f"{live_server}/api/v1/models/free-model/versions/1").json()
    assert version["run_id"] == out["free_run"] and "MLmodel" in {f["path"] for f in version["files"]}
