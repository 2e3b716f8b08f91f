"""Non-finite metric values travel as "NaN", "Infinity", "-Infinity" both ways, on every route that
carries a metric value (both databases), and the SDK turns them back into floats."""

from __future__ import annotations

import math

import pytest

import tether
from tests.api.helpers import new_experiment, new_run

WIRE = ["NaN", "Infinity", "-Infinity", 1.5, -2.5, 0.0]


@pytest.fixture
def exp(client, auth):
    return new_experiment(client, auth, "nonfinite")


def _points(key: str) -> list[dict]:
    return [{"key": key, "value": v, "step": i, "timestamp": 10 + i} for i, v in enumerate(WIRE)]


def test_every_route_writes_the_strings(client, auth, exp):
    rid = new_run(client, auth, exp, metrics=[{"key": "init", "value": "-Infinity", "step": 0}])
    created = client.get(f"/api/v1/runs/{rid}", headers=auth).json
    assert created["metrics"]["init"]["value"] == "-Infinity"
    assert (
        client.post(f"/api/v1/runs/{rid}/batch", json={"metrics": _points("v")}, headers=auth).status_code
        == 200
    )
    for i, value in enumerate(["NaN", "Infinity", "-Infinity"]):
        one = {"key": f"single{i}", "value": value, "step": 0}
        assert client.post(f"/api/v1/runs/{rid}/metrics", json=one, headers=auth).status_code == 200

    raw = client.get(f"/api/v1/runs/{rid}/metrics/v", headers=auth).get_data(as_text=True)
    assert '"value":"NaN"' in raw and "null" not in raw.replace('"next_page_token":null', "")
    history = client.get(f"/api/v1/runs/{rid}/metrics/v", headers=auth).json["items"]
    assert [p["value"] for p in history] == WIRE
    thinned = client.get(f"/api/v1/runs/{rid}/metrics/v?max_points=2", headers=auth).json["items"]
    assert {p["value"] for p in thinned} <= set(WIRE) and thinned[-1]["value"] == 0.0

    run = client.get(f"/api/v1/runs/{rid}", headers=auth).json
    assert [run["metrics"][f"single{i}"]["value"] for i in range(3)] == ["NaN", "Infinity", "-Infinity"]
    found = client.post("/api/v1/runs/search", json={"experiment_ids": [exp]}, headers=auth).json["items"]
    assert found[0]["metrics"]["single0"]["value"] == "NaN"
    patched = client.patch(f"/api/v1/runs/{rid}", json={"status": "FINISHED"}, headers=auth).json
    assert patched["metrics"]["single1"]["value"] == "Infinity"


def test_batch_rejects_other_spellings_of_non_numbers(client, auth, exp):
    rid = new_run(client, auth, exp)
    for bad in ("nan!", "Inf ", None, True, [1]):
        body = {"metrics": [{"key": "m", "value": bad}]}
        assert client.post(f"/api/v1/runs/{rid}/batch", json=body, headers=auth).status_code == 400


@pytest.fixture
def sdk(live_server, writer, monkeypatch):
    monkeypatch.setenv("TETHER_URL", live_server)
    monkeypatch.setenv("TETHER_TOKEN", writer[1])
    with tether.Client() as c:
        yield c


def test_sdk_reads_floats_back(sdk):
    with tether.start_run(experiment="nonfinite-sdk") as run:
        for step, value in enumerate([math.nan, math.inf, -math.inf, 2.0]):
            run.log_metric("m", value, step=step)
        run.log_metrics({"a": math.nan, "b": math.inf, "c": -math.inf}, step=0)
    values = [p.value for p in sdk.metrics.history(run.id, "m")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 2.0]
    assert all(isinstance(v, float) for v in values)
    latest = sdk.runs.get(run.id).metrics
    assert math.isnan(latest["a"].value) and latest["b"].value == math.inf and latest["c"].value == -math.inf
    assert latest["m"].value == 2.0
