"""``tether runs create|log|finish``: runs from shell-based training steps.

    RUN_ID=$(tether runs create --experiment churn --name "ci-$CI_PIPELINE_ID" --param lr=0.1)
    tether runs log "$RUN_ID" --metrics-file metrics.json --artifact model/ --artifact-path model
    tether runs finish "$RUN_ID"

``log`` and ``finish`` also take the run id from ``TETHER_RUN_ID``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import click

from ..errors import ConflictError
from . import main
from ._common import (
    EXIT_CODES_HELP,
    emit,
    handle_errors,
    info,
    json_option,
    key_values,
    make_client,
    read_json_file,
    with_retries,
)

BATCH = 1000


@main.group(epilog=EXIT_CODES_HELP)
def runs() -> None:
    """Create runs, log params/metrics/tags/artifacts to them, finish them."""


def _experiment_id(c: Any, name: str) -> int:
    from ..errors import AlreadyExistsError

    def create() -> int:
        try:
            return int(c.request("POST", "/experiments", json={"name": name})["id"])
        except AlreadyExistsError:
            page = c.request("GET", "/experiments", params={"name": name, "max_results": 10})
            for item in page.get("items") or []:
                if item.get("name") == name:
                    return int(item["id"])
            raise

    page = c.request("GET", "/experiments", params={"name": name, "max_results": 10})
    for item in page.get("items") or []:
        if item.get("name") == name:
            return int(item["id"])
    return int(with_retries(create, idempotent=True))  # create-or-find is safe to repeat


def _number(key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise click.BadParameter(f"metric {key!r}: expected a number, got {raw!r}")
    try:
        return float(raw)
    except ValueError:
        raise click.BadParameter(f"metric {key!r}: expected a number, got {raw!r}") from None


def _metric_points(pairs: dict[str, str], file_data: dict[str, Any], step: int) -> list[dict[str, Any]]:
    """``--metric k=v`` and a metrics file ``{"auc": 0.91, "loss": [0.9, 0.5, 0.3]}`` (a list is a
    history, logged at steps 0, 1, 2…) → batch points."""
    now = int(time.time() * 1000)
    points: list[dict[str, Any]] = []
    for key, raw in file_data.items():
        values = raw if isinstance(raw, list) else [raw]
        for i, v in enumerate(values):
            points.append(
                {
                    "key": key,
                    "value": _json_number(_number(key, v)),
                    "step": i if isinstance(raw, list) else step,
                    "timestamp": now,
                }
            )
    for key, raw in pairs.items():
        points.append({"key": key, "value": _json_number(_number(key, raw)), "step": step, "timestamp": now})
    return points


def _json_number(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _run_id(run_id: str | None) -> str:
    if not run_id:
        raise click.UsageError("give RUN_ID or set TETHER_RUN_ID")
    return run_id


@runs.command("create", epilog=EXIT_CODES_HELP)
@click.option(
    "--experiment",
    "-e",
    required=True,
    envvar="TETHER_EXPERIMENT",
    help="experiment name (created if missing)",
)
@click.option("--name", default=None, help="run name")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE")
@click.option("--params-file", type=click.Path(exists=True, dir_okay=False), help="JSON object of params")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--parent", "parent_run_id", default=None, help="parent run id")
@json_option
@handle_errors
def runs_create(
    experiment: str,
    name: str | None,
    params: tuple[str, ...],
    params_file: str | None,
    tags: tuple[str, ...],
    parent_run_id: str | None,
    as_json: bool,
) -> None:
    """Start a RUNNING run and print its id."""
    all_params: dict[str, Any] = read_json_file(params_file, "--params-file") if params_file else {}
    all_params.update(key_values(params, "--param"))
    body: dict[str, Any] = {
        "name": name,
        "tags": key_values(tags, "--tag") or None,
        "params": {k: str(v) for k, v in all_params.items()} or None,
        "parent_run_id": parent_run_id,
    }
    with make_client() as c:
        body["experiment_id"] = _experiment_id(c, experiment)
        run = with_retries(lambda: c.request("POST", "/runs", json=body), idempotent=False)
    info(f"run {run['id']} started in experiment {experiment!r}")
    emit(
        as_json,
        {"run_id": run["id"], "experiment_id": run["experiment_id"], "name": run.get("name")},
        run["id"],
    )


@runs.command("log", epilog=EXIT_CODES_HELP)
@click.argument("run_id", required=False, envvar="TETHER_RUN_ID")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE")
@click.option("--params-file", type=click.Path(exists=True, dir_okay=False), help="JSON object of params")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--metrics-file",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON object {"auc": 0.91} (a list value is a history logged at steps 0, 1, ...)',
)
@click.option(
    "--step", default=0, show_default=True, type=int, help="step of --metric and scalar file values"
)
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--artifact", "artifacts", multiple=True, type=click.Path(exists=True), help="file or folder to upload"
)
@click.option("--artifact-path", default=None, help="folder inside the run's artifacts (default: the root)")
@json_option
@handle_errors
def runs_log(
    run_id: str | None,
    params: tuple[str, ...],
    params_file: str | None,
    metrics: tuple[str, ...],
    metrics_file: str | None,
    step: int,
    tags: tuple[str, ...],
    artifacts: tuple[str, ...],
    artifact_path: str | None,
    as_json: bool,
) -> None:
    """Log params, metrics, tags (one atomic, idempotent batch per 1,000 points) and artifacts."""
    rid = _run_id(run_id)
    all_params: dict[str, Any] = read_json_file(params_file, "--params-file") if params_file else {}
    all_params.update(key_values(params, "--param"))
    file_metrics = read_json_file(metrics_file, "--metrics-file") if metrics_file else {}
    points = _metric_points(key_values(metrics, "--metric"), file_metrics, step)
    tag_map = key_values(tags, "--tag")
    uploaded: list[dict[str, Any]] = []
    with make_client() as c:
        first: dict[str, Any] = {"params": {k: str(v) for k, v in all_params.items()}, "tags": tag_map}
        chunks = [points[i : i + BATCH] for i in range(0, len(points), BATCH)] or [[]]
        for i, chunk in enumerate(chunks):
            body = {**(first if i == 0 else {}), "metrics": chunk}
            if body["metrics"] or body.get("params") or body.get("tags"):
                c.request("POST", f"/runs/{rid}/batch", json=body, idempotency_key=c.new_idempotency_key())
        for path in artifacts:
            up = c.artifacts.upload_dir if Path(path).is_dir() else c.artifacts.upload
            res = up(rid, path, artifact_path, progress=False)
            for a in res if isinstance(res, list) else [res]:
                uploaded.append({"path": a.path, "size": a.size, "sha256": a.sha256})
    info(
        f"run {rid}: {len(all_params)} params, {len(points)} metric points, {len(tag_map)} tags, {len(uploaded)} files"
    )
    emit(
        as_json,
        {
            "run_id": rid,
            "params": len(all_params),
            "metrics": len(points),
            "tags": len(tag_map),
            "artifacts": uploaded,
        },
        None,
    )


@runs.command("finish", epilog=EXIT_CODES_HELP)
@click.argument("run_id", required=False, envvar="TETHER_RUN_ID")
@click.option(
    "--status",
    type=click.Choice(["FINISHED", "FAILED", "KILLED"], case_sensitive=False),
    default="FINISHED",
    show_default=True,
)
@json_option
@handle_errors
def runs_finish(run_id: str | None, status: str, as_json: bool) -> None:
    """Mark the run FINISHED (or FAILED/KILLED)."""
    rid = _run_id(run_id)
    body = {"status": status.upper(), "end_time": int(time.time() * 1000)}
    with make_client() as c:
        try:
            run = with_retries(lambda: c.request("PATCH", f"/runs/{rid}", json=body), idempotent=True)
        except ConflictError:  # a retried call that had already landed: fine if the run is in that state
            run = c.request("GET", f"/runs/{rid}")
            if run["status"] != body["status"]:
                raise
    info(f"run {rid}: {run['status']}")
    emit(as_json, {"run_id": rid, "status": run["status"]}, None)
