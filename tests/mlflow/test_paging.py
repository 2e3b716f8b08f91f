"""Search pages on the MLflow routes are capped at TETHER_MAX_SEARCH_RESULTS (here 2); the stock
client's ``mlflow.search_runs`` asks for pages of 10,000 and follows ``next_page_token`` to the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Users
from tests.mlflow.conftest import run_mlflow


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_search_results": 2}


PAGING = """
import mlflow
from mlflow import MlflowClient

exp = mlflow.set_experiment("paged").experiment_id
for i in range(5):
    with mlflow.start_run(run_name=f"r{i}"):
        mlflow.log_metric("i", i)
OUT["all"] = sorted(mlflow.search_runs([exp], output_format="list", max_results=10000), key=lambda r: r.info.run_name)
OUT["all"] = [r.info.run_name for r in OUT["all"]]
page = MlflowClient().search_runs([exp], max_results=10000)
OUT["page"] = [len(page), page.token is not None]
OUT["top"] = [r.info.run_name for r in mlflow.search_runs([exp], output_format="list", order_by=["metrics.i DESC"])]
"""


def test_search_pages_follow_tokens(mlflow_python: Path, live_server: str, users: Users) -> None:
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, PAGING)
    assert out["all"] == [f"r{i}" for i in range(5)]
    assert out["page"] == [2, True]
    assert out["top"] == [f"r{i}" for i in reversed(range(5))]
