from __future__ import annotations

import math

import tether
from tether._encoding import decode_value, encode_value
from tether.types import Experiment, MetricPoint, Run

from .fakes import FakeServer, FakeTransport, reply


def test_encode_and_decode_non_finite() -> None:
    assert [encode_value(v) for v in (math.nan, math.inf, -math.inf, 1.5)] == [
        "NaN",
        "Infinity",
        "-Infinity",
        1.5,
    ]
    assert math.isnan(decode_value("NaN"))
    assert decode_value("Infinity") == math.inf and decode_value("-Infinity") == -math.inf
    assert decode_value(2) == 2.0 and isinstance(decode_value(2), float)


def test_log_batch_sends_strings_for_non_finite(server: FakeServer) -> None:
    client, t = server.client()
    exp = client.experiments.create("e")
    run = client.runs.create(exp.id)
    client.runs.log_batch(
        run.id,
        metrics=[
            {"key": "a", "value": math.nan, "step": 1, "timestamp": 5},
            ("b", math.inf, 2),
            ("c", -math.inf),
        ],
        params={"flag": True, "lr": 0.1, "none": None, "s": "x"},
    )
    body = t.calls[-1].body
    assert [m["value"] for m in body["metrics"]] == ["NaN", "Infinity", "-Infinity"]
    assert body["metrics"][0] == {"key": "a", "value": "NaN", "step": 1, "timestamp": 5}
    assert body["metrics"][2]["step"] == 0 and isinstance(body["metrics"][2]["timestamp"], int)
    assert body["params"] == {"flag": "True", "lr": "0.1", "none": "None", "s": "x"}


def test_types_parse_strings_and_ignore_unknown_keys() -> None:
    run = Run.from_dict(
        {
            "id": "r",
            "experiment_id": 3,
            "status": "FINISHED",
            "new": 1,
            "metrics": {"loss": {"value": "NaN", "step": 2, "timestamp": 9, "extra": 0}},
        }
    )
    assert run.experiment_id == 3 and math.isnan(run.metrics["loss"].value) and run.metrics["loss"].step == 2
    assert Experiment.from_dict({"id": "4", "name": "n", "zzz": 1}).id == 4
    assert MetricPoint.from_dict({"step": 1, "value": "-Infinity", "timestamp": 2}).value == -math.inf


def test_history_follows_pages_and_quotes_key() -> None:
    # the SDK asks for the columnar form; a page in the row form (an older server) reads the same
    pages = {
        None: {
            "key": "a b/c",
            "steps": [0],
            "values": ["Infinity"],
            "timestamps": [1],
            "next_page_token": "p2",
            "downsampled": False,
        },
        "p2": {"key": "a b/c", "items": [{"step": 1, "value": 0.5, "timestamp": 2}], "next_page_token": None},
    }
    t = FakeTransport(lambda c: reply(200, pages[c.params.get("page_token")]))
    client = tether.Client("http://x", token="t", transport=t)
    pts = client.metrics.history("r/1", "a b/c", max_points=100)
    assert [(p.step, p.value) for p in pts] == [(0, math.inf), (1, 0.5)]
    assert t.calls[0].url == "http://x/api/v1/runs/r%2F1/metrics/a%20b/c"
    assert t.calls[0].params == {"max_points": 100, "format": "columnar"}
