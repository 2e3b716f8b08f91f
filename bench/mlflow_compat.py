"""The stock MLflow client against Tether (issue 18): 200 synchronous ``mlflow.log_metric`` calls and
one ``log_batch`` of 1,000 metrics, through ``.mlflow-venv`` (tests/mlflow/requirements.txt).

Reported per phase: the server tree's CPU milliseconds (``Server.cpu``, the number that does not
swing with the shared host's load) and the client's wall milliseconds. A baseline script (experiment,
run, end) is subtracted so each phase counts only its own requests. MLflow's own server is measured
the same way when ``TETHER_BENCH_MLFLOW_SERVER`` names its ``mlflow`` executable (the full ``mlflow``
package, which this repository does not install; its best configuration is 4 workers on PostgreSQL:
``--mlflow-backend postgresql://...`` with psycopg2 in its environment). Each server is measured
once its process tree has gone quiet after start-up (``settle``), ``ROUNDS`` times; the table gives
the medians, the ratios and the issue's target (Tether's client wall time at most a third of MLflow's).

    python -m bench.mlflow_compat [--postgres URL] [--mlflow-backend URL]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from ._server import ROOT, Server, children_of, cpu_seconds, free_port, new_admin_token

PYTHON = ROOT / ".mlflow-venv" / "bin" / "python"
SCRIPT = """
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
mlflow.set_experiment("bench-" + sys.argv[1])
with mlflow.start_run() as run:
    t0 = time.perf_counter()
    if sys.argv[1] == "metric":
        for i in range(200):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    elif sys.argv[1] == "batch":
        ts = int(time.time() * 1000)
        MlflowClient().log_batch(run.info.run_id, metrics=[Metric("m", float(i), ts, i) for i in range(1000)])
    wall = time.perf_counter() - t0
print(json.dumps({"wall_ms": wall * 1000}))
"""


def _phase(url: str, token: str, phase: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TETHER_"))}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_TRACKING_TOKEN=token, GIT_PYTHON_REFRESH="quiet")
    out = subprocess.run(
        [str(PYTHON), "-c", SCRIPT, phase], env=env, capture_output=True, text=True, check=True, timeout=600
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["wall_ms"])


def measure(url: str, token: str, cpu: Callable[[], float]) -> dict[str, float]:
    """{phase: server CPU ms} and {phase_wall: client wall ms}, each less the baseline script."""
    _phase(url, token, "warm")  # first requests (imports, prepared statements) are not measured
    results: dict[str, float] = {}
    for phase in ("base", "metric", "batch"):
        before = cpu()
        wall = _phase(url, token, phase)
        results[phase] = (cpu() - before) * 1000
        results[f"{phase}_wall"] = wall
    for phase in ("metric", "batch"):
        results[phase] -= results["base"]
    return results


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``mlflow server`` starts uvicorn, which starts the workers)."""
    out, todo = [pid], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


def mlflow_backend_uri(backend: str) -> str:
    """MLflow's environment has psycopg2 (not psycopg 3), so a PostgreSQL URL reaches MLflow as
    ``postgresql+psycopg2://``: given Tether's ``postgresql+psycopg://``, or plain ``postgresql://``
    (which SQLAlchemy 2.1, what MLflow installs, drives with psycopg 3), MLflow's server died at
    start with ``No module named 'psycopg'``."""
    scheme, sep, rest = backend.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg2://{rest}"
    return backend


def _mlflow_server(executable: str, data: Path, backend: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [executable, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "4"]
    cmd += [
        "--backend-store-uri",
        mlflow_backend_uri(backend) or f"sqlite:///{data}/mlflow.db",
        "--artifacts-destination",
        str(data / "art"),
    ]
    log = data / "mlflow-server.log"  # its output, so a failed start says why
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            break
        try:
            if requests.get(url + "/health", timeout=2).ok:
                return url, proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    _stop(proc)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"MLflow server did not start; the end of its log:\n{tail}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop MLflow's server and everything it started (its job consumers outlive a plain SIGTERM
    of the server): SIGTERM to its process group, SIGKILL to what is left after 10 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:  # it exited (a failed start) and left nothing behind
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


ROUNDS = 3


def settle(cpu: Callable[[], float], quiet: float = 0.05, every: float = 2.0, limit: float = 120.0) -> float:
    """Wait until a server's tree uses less than ``quiet`` CPU seconds in ``every`` seconds (at most
    ``limit`` s); returns the seconds waited. MLflow 3.17's server answers /health while its job
    runner's consumers (7 processes) are still importing, about 25 CPU seconds over the next 15-20 s:
    measured straight away, that work counts as MLflow's request cost."""
    t0, last = time.monotonic(), cpu()
    while time.monotonic() - t0 < limit:
        time.sleep(every)
        now = cpu()
        if now - last < quiet:
            break
        last = now
    return time.monotonic() - t0


def rounds(url: str, token: str, cpu: Callable[[], float]) -> dict[str, float]:
    """``measure`` ``ROUNDS`` times on a settled server; the median of each figure."""
    settle(cpu)
    runs = [measure(url, token, cpu) for _ in range(ROUNDS)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def table(tether: dict[str, float], mlflow: dict[str, float] | None) -> str:
    """The issue's two figures: client wall ms (the target: Tether at least 3 times faster) and
    server CPU ms, medians of ``ROUNDS`` rounds."""
    lines = [f"{'figure':<44} {'tether':>10} {'mlflow':>10} {'ratio':>7}  target ≥ 3x"]
    for phase, label in (("metric", "200 mlflow.log_metric calls"), ("batch", "log_batch of 1,000 metrics")):
        for key, unit in ((f"{phase}_wall", "client wall ms"), (phase, "server CPU ms")):
            t = tether[key]
            m = mlflow[key] if mlflow else None
            ratio = f"{m / t:.1f}x" if m is not None and t > 0 else "-"
            ok = "" if m is None or key != f"{phase}_wall" else ("PASS" if m >= 3 * t else "FAIL")
            mtext = "-" if m is None else f"{m:,.0f}"
            lines.append(f"{label + ', ' + unit:<44} {t:>10,.0f} {mtext:>10} {ratio:>7}  {ok}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL for Tether (default: SQLite)")
    parser.add_argument(
        "--mlflow-backend",
        default="",
        help="MLflow's --backend-store-uri, e.g. postgresql://... of an empty database (default: SQLite)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        server = Server(data_dir=data, admin_token=new_admin_token(), database_url=args.postgres)
        server.start()
        try:
            tether = rounds(server.base_url, server.admin_token, server.cpu)
        finally:
            server.stop()
        print(f"tether: {json.dumps({k: round(v, 1) for k, v in tether.items()})}")
        mlflow = None
        executable = os.environ.get("TETHER_BENCH_MLFLOW_SERVER")
        if executable:
            url, proc = _mlflow_server(executable, Path(data), args.mlflow_backend)
            try:
                mlflow = rounds(url, "unused", lambda: cpu_seconds(_tree(proc.pid)))
            finally:
                _stop(proc)
            print(f"mlflow: {json.dumps({k: round(v, 1) for k, v in mlflow.items()})}")
        print(table(tether, mlflow))


if __name__ == "__main__":
    main()
