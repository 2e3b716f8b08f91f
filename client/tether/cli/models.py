"""``tether models register|gate|request|wait|fetch``: the registry steps of a pipeline.

    V=$(tether models register --run "$RUN_ID" --path model --name churn --alias candidate)
    tether models gate --name churn --version "$V" --metric auc --min 0.8 --vs production --max-regression 0.01
    REQ=$(tether models request --name churn --version "$V" --to Production --comment "CI $CI_PIPELINE_ID")
    tether models wait --request "$REQ" --timeout 2h
    tether models fetch --name churn --stage production --dst ./model

This module holds the ``models`` group and the steps that bring a version in: ``register`` and
``gate``. ``request`` and ``wait`` are in ``models_transitions``, ``fetch`` in ``models_fetch``.
Calls go through the SDK's ``Client.request`` (auth, JSON errors, retries of idempotent calls).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

import click

from ..errors import AlreadyExistsError, NotFoundError
from . import main
from ._common import (
    EXIT_CODES_HELP,
    EXIT_NO,
    Outcome,
    emit,
    handle_errors,
    info,
    json_option,
    make_client,
    read_json_file,
    with_retries,
)


def _q(part: str | int) -> str:
    return quote(str(part), safe="")


@main.group(epilog=EXIT_CODES_HELP)
def models() -> None:
    """Register, gate, promote (with review) and fetch model versions."""


# ---------------------------------------------------------------- register


@models.command("register", epilog=EXIT_CODES_HELP)
@click.option(
    "--run", "run_id", required=True, envvar="TETHER_RUN_ID", help="source run id (or TETHER_RUN_ID)"
)
@click.option("--path", "artifact_path", required=True, help="artifact folder of the run holding the model")
@click.option("--name", required=True, help="registered model name (created if missing)")
@click.option("--alias", "aliases", multiple=True, help="point this alias at the new version (repeatable)")
@click.option("--description", default="", help="version description")
@click.option(
    "--metadata-file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON object stored with the version",
)
@json_option
@handle_errors
def register(
    run_id: str,
    artifact_path: str,
    name: str,
    aliases: tuple[str, ...],
    description: str,
    metadata_file: str | None,
    as_json: bool,
) -> None:
    """Register the run's artifacts under --path as a new version; prints the version number."""
    metadata = read_json_file(metadata_file, "--metadata-file") if metadata_file else None
    body = {
        "run_id": run_id,
        "artifact_path": artifact_path,
        "description": description,
        "metadata": metadata,
    }
    with make_client() as c:
        try:
            c.request("GET", f"/models/{_q(name)}")
        except NotFoundError:
            try:
                with_retries(lambda: c.request("POST", "/models", json={"name": name}), idempotent=False)
                info(f"created registered model {name!r}")
            except AlreadyExistsError:
                pass  # another pipeline created it meanwhile
        mv = with_retries(
            lambda: c.request("POST", f"/models/{_q(name)}/versions", json=body), idempotent=False
        )
        for alias in aliases:
            c.request("PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": mv["version"]})
    info(
        f"registered {name} version {mv['version']} from run {run_id}"
        + (f" (aliases: {', '.join(aliases)})" if aliases else "")
    )
    emit(
        as_json,
        {"model": name, "version": mv["version"], "run_id": run_id, "aliases": list(aliases)},
        str(mv["version"]),
    )


# ---------------------------------------------------------------- gate


def _metric_of(c: Any, run_id: str | None, metric: str) -> float | None:
    if not run_id:
        return None
    run = c.request("GET", f"/runs/{_q(run_id)}")
    entry = (run.get("metrics") or {}).get(metric)
    if entry is None:
        return None
    value = entry.get("value") if isinstance(entry, dict) else entry
    if isinstance(value, str):  # "NaN" / "Infinity" travel as strings
        return float(value.replace("Infinity", "inf"))
    return None if value is None else float(value)


def _baseline(c: Any, name: str, vs: str) -> dict[str, Any] | None:
    path = (
        f"/models/{_q(name)}/aliases/{_q(vs[6:])}"
        if vs.startswith("alias:")
        else f"/models/{_q(name)}/stages/{_q(vs)}"
    )
    try:
        return c.request("GET", path)
    except NotFoundError as exc:  # no such model yet (first pipeline run) or nothing in that stage
        info(f"no baseline: {exc.message}")
        return None


def _checks(
    value: float | None,
    minimum: float | None,
    maximum: float | None,
    higher: bool,
    base: float | None,
    base_label: str | None,
    max_regression: float | None,
    metric: str,
) -> list[dict[str, Any]]:
    if value is None or math.isnan(value):
        return [
            {"check": "present", "passed": False, "why": f"the candidate has no finite value for {metric!r}"}
        ]
    out = []
    if minimum is not None:
        out.append(
            {
                "check": "min",
                "passed": value >= minimum,
                "why": f"{metric} = {value:g} {'>=' if value >= minimum else '<'} min {minimum:g}",
            }
        )
    if maximum is not None:
        out.append(
            {
                "check": "max",
                "passed": value <= maximum,
                "why": f"{metric} = {value:g} {'<=' if value <= maximum else '>'} max {maximum:g}",
            }
        )
    if base_label is not None:
        if base is None or math.isnan(base):
            out.append(
                {
                    "check": "regression",
                    "passed": True,
                    "why": f"no baseline value of {metric} in {base_label}: nothing to regress from",
                }
            )
        else:
            regression = (base - value) if higher else (value - base)
            ok = regression <= (max_regression or 0.0)
            out.append(
                {
                    "check": "regression",
                    "passed": ok,
                    "why": f"{metric} = {value:g} vs {base_label} {base:g}: regression {regression:g} "
                    f"{'<=' if ok else '>'} allowed {max_regression or 0.0:g} ({'higher' if higher else 'lower'} is better)",
                }
            )
    return out


@models.command("gate", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True)
@click.option("--version", type=int, default=None, help="registered version to gate")
@click.option("--run", "run_id", default=None, help="or: gate a run before registering it")
@click.option("--metric", required=True, help="metric key of the version's source run (its latest value)")
@click.option(
    "--min", "minimum", type=float, default=None, help="pass only if metric >= MIN (higher is better)"
)
@click.option(
    "--max", "maximum", type=float, default=None, help="pass only if metric <= MAX (lower is better)"
)
@click.option(
    "--vs", default=None, help="compare with the version in this stage (e.g. production) or alias:NAME"
)
@click.option(
    "--max-regression",
    type=float,
    default=None,
    help="allowed regression vs --vs, in the metric's units (default 0)",
)
@click.option(
    "--direction",
    type=click.Choice(["higher", "lower"]),
    default=None,
    help="which way is better (default: from --min/--max, else higher)",
)
@json_option
@handle_errors
def gate(
    name: str,
    version: int | None,
    run_id: str | None,
    metric: str,
    minimum: float | None,
    maximum: float | None,
    vs: str | None,
    max_regression: float | None,
    direction: str | None,
    as_json: bool,
) -> None:
    """Exit 0 if the candidate (--version, or a --run not yet registered) passes every check, 3 if it
    fails one; prints why either way. --name is the model whose --vs version is the baseline."""
    if (version is None) == (run_id is None):
        raise click.UsageError("give exactly one of --version and --run")
    if minimum is None and maximum is None and vs is None:
        raise click.UsageError("give --min, --max or --vs")
    if max_regression is not None and vs is None:
        raise click.UsageError("--max-regression needs --vs")
    if max_regression is not None and (max_regression < 0 or math.isnan(max_regression)):
        raise click.BadParameter("must be >= 0", param_hint="--max-regression")
    higher = direction == "higher" if direction else not (maximum is not None and minimum is None)
    with make_client() as c:
        if version is not None:
            run_id = c.request("GET", f"/models/{_q(name)}/versions/{int(version)}").get("run_id")
        value = _metric_of(c, run_id, metric)
        base_info = _baseline(c, name, vs) if vs else None
        base = _metric_of(c, base_info.get("run_id"), metric) if base_info else None
    label = None
    if vs:
        label = f"{vs} (version {base_info['version']})" if base_info else f"{vs} (empty)"
    checks = _checks(value, minimum, maximum, higher, base, label, max_regression, metric)
    passed = all(ch["passed"] for ch in checks)
    what = f"{name} version {version}" if version is not None else f"run {run_id}"
    payload = {
        "model": name,
        "version": version,
        "run_id": run_id,
        "metric": metric,
        "value": value,
        "baseline": base,
        "baseline_version": base_info["version"] if base_info else None,
        "passed": passed,
        "checks": checks,
    }
    for ch in checks:
        info(f"{'PASS' if ch['passed'] else 'FAIL'} {ch['check']}: {ch['why']}")
    if not passed:
        emit(as_json, payload, None)
        raise Outcome(EXIT_NO, f"{what} failed the gate")
    info(f"{what} passed the gate")
    emit(as_json, payload, None)
