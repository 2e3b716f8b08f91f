"""The SDK against the real app over HTTP (both databases)."""

from __future__ import annotations

import json
import math

import pytest

import tether


@pytest.fixture
def sdk(live_server, writer, monkeypatch):
    monkeypatch.setenv("TETHER_URL", live_server)
    monkeypatch.setenv("TETHER_TOKEN", writer[1])
    with tether.Client() as c:
        yield c


def test_readme_example(sdk, live_server):
    with tether.start_run(experiment="churn", name="xgb-baseline", tags={"team": "growth"}) as run:
        run.log_params({"lr": 0.1, "depth": 6})
        for step in range(10_000):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_metrics({"auc": 0.91, "f1": 0.77}, step=10_000)
    best = tether.Client().runs.search(
        experiment="churn",
        filter="metrics.auc > 0.9 and params.depth = '6'",
        order_by=["metrics.auc DESC"],
        max_results=10,
    )
    assert [r.id for r in best] == [run.id]
    info = sdk.runs.get(run.id)
    assert (
        info.status == "FINISHED"
        and info.params == {"lr": "0.1", "depth": "6"}
        and info.tags == {"team": "growth"}
    )
    history = sdk.metrics.history(run.id, "loss")
    assert len(history) == 10_000 and history[-1].step == 9999 and history[9].value == pytest.approx(0.1)
    assert len(sdk.metrics.history(run.id, "loss", max_points=500)) <= 500


def test_failed_block_marks_run_failed_and_keeps_points(sdk):
    with pytest.raises(ZeroDivisionError):
        with tether.start_run(experiment="crashy") as run:
            run.log_metric("x", math.nan, step=0)
            run.log_metric("y", math.inf, step=0)
            raise ZeroDivisionError("boom")
    info = sdk.runs.get(run.id)
    assert info.status == "FAILED"
    assert math.isnan(sdk.metrics.history(run.id, "x")[0].value)
    assert sdk.metrics.history(run.id, "y")[0].value == math.inf


def test_typed_errors(sdk):
    with pytest.raises(tether.NotFoundError):
        sdk.runs.get("0" * 32)
    with tether.start_run(experiment="typed") as run:
        run.log_param("p", "1")
        with pytest.raises(tether.AlreadyExistsError):
            run.log_param("p", "2")
    with pytest.raises(tether.ConflictError):
        sdk.runs.log_batch(run.id, metrics=[{"key": "late", "value": 1.0, "step": 0}])
    with pytest.raises(tether.AuthenticationError):
        tether.Client(sdk_base(sdk), token="tth_" + "z" * 43).runs.get(run.id)


def sdk_base(client) -> str:
    return client.base_url if hasattr(client, "base_url") else client._base_url


def test_credentials_file_is_used_when_no_token(live_server, writer, tmp_path, monkeypatch):
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"servers": {live_server: {"token": writer[1]}}}))
    creds.chmod(0o600)
    monkeypatch.setenv("TETHER_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("TETHER_TOKEN", raising=False)
    with tether.Client(live_server) as c:
        assert c.experiments.create("from-creds").name == "from-creds"


def test_create_run_with_initial_data_in_one_call(sdk):
    exp = sdk.experiments.create("one-call")
    run = sdk.runs.create(
        exp.id, name="r", params={"lr": 0.1}, metrics=[{"key": "auc", "value": float("nan")}]
    )
    got = sdk.runs.get(run.id)
    assert got.params == {"lr": "0.1"} and math.isnan(sdk.metrics.history(run.id, "auc")[0].value)
