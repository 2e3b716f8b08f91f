"""``tether models register|gate|request|wait|fetch``: the registry steps of a pipeline.

    V=$(tether models register --run "$RUN_ID" --path model --name churn --alias candidate)
    tether models gate --name churn --version "$V" --metric auc --min 0.8 --vs production --max-regression 0.01
    REQ=$(tether models request --name churn --version "$V" --to Production --comment "CI $CI_PIPELINE_ID")
    tether models wait --request "$REQ" --timeout 2h
    tether models fetch --name churn --stage production --dst ./model

Calls go through the SDK's ``Client.request`` (auth, JSON errors, retries of idempotent calls);
downloads stream with ``requests`` and are checked against the manifest's sha256 and size.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import click

from .._config import resolve_token
from ..errors import AlreadyExistsError, APIConnectionError, APIError, NotFoundError
from . import main
from ._common import (
    EXIT_CANCELLED,
    EXIT_CODES_HELP,
    EXIT_NO,
    EXIT_TIMEOUT,
    Duration,
    Outcome,
    emit,
    fail,
    handle_errors,
    info,
    json_option,
    make_client,
    read_json_file,
    retries_from_env,
    with_retries,
)

MANIFEST = "tether-model.json"
CHUNK = 1024 * 1024


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


# ---------------------------------------------------------------- request / wait


@models.command("request", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True)
@click.option("--version", required=True, type=int)
@click.option("--to", "to_stage", required=True, help="target stage: Staging, Production or Archived")
@click.option("--comment", default="", help="why (shown to reviewers)")
@json_option
@handle_errors
def request_(name: str, version: int, to_stage: str, comment: str, as_json: bool) -> None:
    """Ask for a reviewed stage transition; prints the request id (an identical pending one is reused)."""
    path = f"/models/{_q(name)}/versions/{int(version)}/transition-requests"
    with make_client() as c:
        try:
            req = with_retries(
                lambda: c.request("POST", path, json={"to_stage": to_stage, "comment": comment}),
                idempotent=False,
            )
        except AlreadyExistsError:
            req = _pending(c, name, version, to_stage)
            if req is None:
                raise
            info(f"reusing pending request {req['id']}")
    state = "applied at once (no approval required)" if req["status"] == "approved" else req["status"]
    info(f"request {req['id']}: {name} v{version} -> {req['to_stage']}: {state}")
    emit(as_json, _req_payload(req), str(req["id"]))


def _pending(c: Any, name: str, version: int, to_stage: str) -> dict[str, Any] | None:
    token = None
    while True:
        page = c.request(
            "GET", "/transition-requests", params={"status": "pending", "model": name, "page_token": token}
        )
        for r in page["items"]:
            if r["version"] == version and r["to_stage"].lower() == to_stage.lower():
                return r
        token = page.get("next_page_token")
        if not token:
            return None


def _req_payload(req: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "model",
        "version",
        "from_stage",
        "to_stage",
        "status",
        "required_approvals",
        "requested_by",
        "decided_by",
        "decision_comment",
    )
    return {("request_id" if k == "id" else k): req.get(k) for k in keys}


@models.command("wait", epilog=EXIT_CODES_HELP)
@click.option("--request", "request_id", required=True, type=int, help="transition request id")
@click.option("--timeout", type=Duration(), default="2h", show_default=True, help="e.g. 90s, 15m, 2h")
@click.option("--interval", type=Duration(), default="10s", show_default=True, help="poll interval")
@json_option
@handle_errors
def wait(request_id: int, timeout: float, interval: float, as_json: bool) -> None:
    """Wait for a decision: exit 0 approved, 3 rejected, 4 timeout, 5 cancelled."""
    deadline = time.monotonic() + timeout
    last_error: str | None = None
    with make_client() as c:
        while True:
            try:
                req = c.request("GET", f"/transition-requests/{int(request_id)}")
                last_error = None
            except (APIConnectionError, APIError) as exc:
                transient = isinstance(exc, APIConnectionError) or exc.status in (429, 500, 502, 503, 504)
                if not transient:
                    raise
                req, last_error = None, str(exc)  # keep waiting through outages until the deadline
                info(f"poll failed ({exc}); still waiting")
            if req is not None and req["status"] != "pending":
                break
            left = deadline - time.monotonic()
            if left <= 0:
                payload = {
                    "request_id": request_id,
                    "status": "pending",
                    "timed_out": True,
                    "last_error": last_error,
                }
                emit(as_json, payload, None)
                raise Outcome(EXIT_TIMEOUT, f"request {request_id} is still pending after {timeout:g}s")
            time.sleep(min(interval, left))
    payload = _req_payload(req)
    who = f" by {req.get('decided_by')}" if req.get("decided_by") else ""
    why = f": {req.get('decision_comment')}" if req.get("decision_comment") else ""
    emit(as_json, payload, None)
    if req["status"] == "approved":
        info(f"request {request_id} approved{who}{why}")
        return
    if req["status"] == "rejected":
        raise Outcome(EXIT_NO, f"request {request_id} rejected{who}{why}")
    if req["status"] == "cancelled":
        raise Outcome(EXIT_CANCELLED, f"request {request_id} cancelled{who}{why}")
    fail(f"request {request_id} has an unknown status {req['status']!r}")


# ---------------------------------------------------------------- fetch


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(
    session: Any, url: str, headers: dict[str, str], target: Path, timeout: float
) -> tuple[int, str]:
    """Stream ``url`` into ``target`` (a .part file); returns (bytes, sha256). Retries transient failures."""
    import requests

    attempts = retries_from_env()
    for attempt in range(attempts + 1):
        try:
            h, n = hashlib.sha256(), 0
            with session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=False) as r:
                if r.status_code in (429, 500, 502, 503, 504) and attempt < attempts:
                    raise requests.ConnectionError(f"HTTP {r.status_code}")
                if r.status_code != 200:
                    from ..errors import error_from_response

                    raise error_from_response(r.status_code, r.content, r.headers)
                with open(target, "wb") as fh:
                    for chunk in r.iter_content(CHUNK):
                        h.update(chunk)
                        n += len(chunk)
                        fh.write(chunk)
            return n, h.hexdigest()
        except requests.RequestException as exc:
            if attempt >= attempts:
                raise APIConnectionError(
                    f"download of {urlsplit(url).path} failed: {type(exc).__name__}"
                ) from None
            time.sleep(min(30.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")


@models.command("fetch", epilog=EXIT_CODES_HELP)
@click.option("--name", required=True)
@click.option("--stage", default=None, help="e.g. production (default when no --alias)")
@click.option("--alias", default=None)
@click.option("--dst", required=True, type=click.Path(file_okay=False), help="folder to write the files into")
@click.option("--manifest", default=None, help=f"where to write the manifest (default: DST/{MANIFEST})")
@json_option
@handle_errors
def fetch(
    name: str, stage: str | None, alias: str | None, dst: str, manifest: str | None, as_json: bool
) -> None:
    """Download a version, verify every file's size and sha256 (exit 1 on any mismatch) and write a
    manifest (model, version, run, files with sha256) for the deploy step."""
    if stage and alias:
        raise click.UsageError("give --stage or --alias, not both")
    import requests

    root = Path(dst).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with make_client() as c:
        pointer = f"aliases/{_q(alias)}" if alias else f"stages/{_q(stage or 'production')}"
        dep = c.request("GET", f"/models/{_q(name)}/{pointer}")
        origin = urlsplit(c.base_url)
        token = resolve_token(None, c.base_url)
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        bad: list[str] = []
        files = []
        with requests.Session() as http:
            for f in dep["files"]:
                target = (root / f["path"]).resolve()
                if target == root or root not in target.parents:
                    fail(f"refusing to write outside {root}: {f['path']!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                if (
                    target.is_file()
                    and target.stat().st_size == f["size"]
                    and _sha256_of(target) == f["sha256"]
                ):
                    files.append({"path": f["path"], "size": f["size"], "sha256": f["sha256"]})
                    continue  # already here and intact
                u = urlsplit(f["download_url"])
                same = (u.scheme, u.netloc) == (origin.scheme, origin.netloc)
                part = target.with_name(target.name + ".part")
                n, digest = _download(http, f["download_url"], auth if same else {}, part, c.timeout)
                if n != f["size"] or digest != f["sha256"]:
                    part.unlink(missing_ok=True)
                    bad.append(
                        f"{f['path']}: got {n} bytes sha256 {digest}, expected {f['size']} bytes sha256 {f['sha256']}"
                    )
                    continue
                os.replace(part, target)
                files.append({"path": f["path"], "size": f["size"], "sha256": f["sha256"]})
    if bad:
        for line in bad:
            info(f"MISMATCH {line}")
        fail(f"{len(bad)} of {len(dep['files'])} files failed verification; nothing was written for them")
    doc = {
        "format": "tether-model/1",
        "model": name,
        "version": dep["version"],
        "stage": dep.get("stage"),
        "aliases": dep.get("aliases", []),
        "run_id": dep.get("run_id"),
        "metadata": dep.get("metadata"),
        "datasets": dep.get("datasets", []),
        "server": c.base_url,
        "fetched_at": int(time.time() * 1000),
        "files": files,
    }
    mpath = Path(manifest) if manifest else root / MANIFEST
    mpath.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    info(f"fetched {name} version {dep['version']} ({len(files)} files, sha256 verified) into {root}")
    emit(as_json, {**doc, "dst": str(root), "manifest": str(mpath)}, str(root))
