from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tether
from tether import _run

from .fakes import Call, FakeServer, error


def test_start_run_logs_and_finishes(server: FakeServer) -> None:
    client, t = server.client()
    with tether.start_run(
        experiment="churn", name="xgb", tags={"team": "growth"}, client=client, batch_size=3
    ) as run:
        assert isinstance(run, tether.Run) and run.name == "xgb"
        run.log_params({"lr": 0.1, "depth": 6, "flag": False})
        run.log_param("k", "v")
        run.set_tag("t", 1)
        run.set_tags({"u": "x"})
        for step in range(10):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_metric("bad", math.nan)
        run.log_metrics({"auc": 0.91, "f1": 0.77}, step=10, timestamp=123)
    stored = server.runs[run.id]
    assert stored["status"] == "FINISHED" and isinstance(stored["end_time"], int)
    assert stored["params"] == {"lr": "0.1", "depth": "6", "flag": "False", "k": "v"}
    assert stored["tags"] == {"team": "growth", "t": "1", "u": "x"}
    assert [p["step"] for p in server.points if p["key"] == "loss"] == list(range(10))
    assert [p for p in server.points if p["key"] == "bad"][0]["value"] == "NaN"
    assert [p for p in server.points if p["key"] == "auc"][0] == {
        "key": "auc",
        "value": 0.91,
        "step": 10,
        "timestamp": 123,
    }
    # all metric batches happen before the final PATCH
    patch = max(i for i, c in enumerate(t.calls) if c.method == "PATCH")
    assert all(i < patch for i, c in enumerate(t.calls) if c.path.endswith("/batch"))
    assert run.info.status == "FINISHED" and run.ended and run not in _run._live_runs


@pytest.mark.parametrize(("exc", "status"), [(ValueError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_block_exception_sets_status_and_propagates(
    server: FakeServer, exc: type[BaseException], status: str
) -> None:
    client, _ = server.client()
    with pytest.raises(exc):
        with tether.start_run(experiment="e", client=client) as run:
            run.log_metric("m", 1.0)
            raise exc()
    assert server.runs[run.id]["status"] == status
    assert len(server.points) == 1


def test_get_or_create_experiment_and_experiment_id(server: FakeServer) -> None:
    client, _ = server.client()
    a = tether.start_run(experiment="same", client=client)
    b = tether.start_run(experiment="same", client=client)
    c = tether.start_run(experiment_id=a.experiment_id, client=client, parent_run_id=a.id)
    assert a.experiment_id == b.experiment_id == c.experiment_id and len(server.experiments) == 1
    assert c.info.parent_run_id == a.id
    for r in (c, b, a):
        r.end()
    a.end()  # idempotent


def test_buffer_error_raised_on_exit(server: FakeServer) -> None:
    client, _ = server.client()
    run = tether.start_run(experiment="e", client=client)
    server.runs[run.id]["status"] = "KILLED"  # someone killed it meanwhile
    run.log_metric("m", 1.0)
    with pytest.raises(tether.ConflictError):
        run.flush()
    run.log_metric("m", 2.0)
    with pytest.raises(tether.ConflictError):
        run.end()
    assert run.ended


def test_param_conflict_is_synchronous(server: FakeServer) -> None:
    client, _ = server.client()
    with tether.start_run(experiment="e", client=client) as run:
        run.log_param("lr", 0.1)
        with pytest.raises(tether.AlreadyExistsError):
            run.log_param("lr", 0.2)


def test_resume_by_run_id(server: FakeServer) -> None:
    client, _ = server.client()
    first = tether.start_run(experiment="e", client=client)
    first.end()
    again = tether.start_run(run_id=first.id, client=client, tags={"resumed": "yes"})
    assert again.id == first.id and server.runs[first.id]["status"] == "RUNNING"
    assert server.runs[first.id]["tags"]["resumed"] == "yes"
    again.end()


def test_owned_client_closed_and_failed_start_cleans_up(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, t = server.client()
    monkeypatch.setattr(_run, "Client", lambda: client)
    with tether.start_run(experiment="e"):
        pass
    assert t.closed
    t.closed = False
    server.fail.append(lambda call: error(403, "PERMISSION_DENIED") if call.path == "/runs" else None)
    with pytest.raises(tether.PermissionDeniedError):
        tether.start_run(experiment="e")
    assert t.closed


def test_metric_batches_retry_transient_errors(server: FakeServer) -> None:
    client, t = server.client()
    flaky = {"n": 0}

    def hook(call: Call) -> object:
        if call.path.endswith("/batch") and flaky["n"] < 2:
            flaky["n"] += 1
            return error(503, "UNAVAILABLE")
        return None

    with tether.start_run(experiment="e", client=client) as run:
        server.fail.append(hook)
        run.log_metrics({"a": 1.0, "b": 2.0})
    batch_calls = [c for c in t.calls if c.path.endswith("/batch")]
    assert len(batch_calls) == 3 and len({c.idempotency_key for c in batch_calls}) == 1
    assert len(server.points) == 2


def test_bad_metric_inputs_fail_fast(server: FakeServer) -> None:
    client, _ = server.client()
    with tether.start_run(experiment="e", client=client) as run:
        with pytest.raises(TypeError):
            run.log_metric("", 1.0)
        with pytest.raises((TypeError, ValueError)):
            run.log_metric("m", "not a number")  # type: ignore[arg-type]


SCRIPT = """
import sys, json, threading
sys.path.insert(0, {tests!r})
import tether
from fakes import FakeServer
server = FakeServer()
client, _ = server.client()
def report():
    print(json.dumps({{"status": server.runs["r1"]["status"], "points": len(server.points)}}))
import atexit
atexit.register(report)  # registered before tether's hook (at the first run), so it runs after it
run = tether.start_run(experiment="e", client=client, flush_interval=60)
for i in range(1000):
    run.log_metric("m", float(i), step=i)
{tail}
"""


@pytest.mark.parametrize(("tail", "status"), [("", "FINISHED"), ("raise RuntimeError('x')", "FAILED")])
def test_atexit_ends_open_runs(tail: str, status: str) -> None:
    tests_dir = str(Path(__file__).parent)
    client_dir = str(Path(__file__).resolve().parents[2] / "client")
    env = {**os.environ, "PYTHONPATH": client_dir}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests_dir, tail=tail)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    last = out.stdout.strip().splitlines()[-1]
    assert last == f'{{"status": "{status}", "points": 1000}}', out.stderr
