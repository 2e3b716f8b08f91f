"""MLflow's proxied artifact routes (``/api/2.0/mlflow-artifacts/artifacts``) over Tether's run artifacts.

A registered version's download URI is ``mlflow-artifacts:/registry/<model>/<version>``: the registry's
own copy of its files, read-only here.

A run's MLflow ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run>/artifacts``; the client
resolves it against the tracking URI and calls ``PUT|GET <prefix>/<experiment>/<run>/artifacts/<path>``
and ``GET <prefix>?path=<experiment>/<run>/artifacts[/<folder>]``. The path only names the run and the
artifact: the storage key is built by Tether (``services.artifacts.files.storage_key``), and uploads
follow Tether's rules (streamed, hashed, never overwritten).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from ... import context
from ...access import access
from ...errors import NotFound
from ...services.artifacts import files as svc
from ...services.registry import catalog as registry_svc
from ...services.registry import deploy
from ...services.tracking import runs as runs_svc
from ...storage import zerocopy
from ..artifacts import receive_body
from . import convert as cv
from . import logged_models

_LIST_PAGE = 1000


def _split(raw: str) -> tuple[int, str, str]:
    """``<experiment>/<run>/artifacts[/<path>]`` → (experiment id, run id, artifact path or ""); a
    logged model's ``<experiment>/models/<model id>/artifacts[/<path>]`` is its run's folder."""
    parts = raw.strip("/").split("/", 3)
    if len(parts) >= 3 and parts[1] == "models" and parts[0].isdigit():
        model = raw.strip("/").split("/", 4)
        if len(model) >= 4 and model[3] == "artifacts":
            run_id, name = logged_models.parse_id(model[2])
            return int(parts[0]), run_id, f"{name}/{model[4]}" if len(model) == 5 else name
    if len(parts) < 3 or parts[2] != "artifacts" or not parts[0].isdigit():
        raise NotFound(f"No run artifacts at {raw[:200]!r} (expected <experiment>/<run>/artifacts/<path>)")
    return int(parts[0]), parts[1], parts[3] if len(parts) == 4 else ""


def _registry(raw: str) -> tuple[str, int, str] | None:
    """``registry/<model>/<version>[/<path>]`` → (model, version, path), or None for a run path."""
    parts = raw.strip("/").split("/", 3)
    if parts[0] != "registry":
        return None
    if len(parts) < 3 or not parts[2].isdigit() or not 0 < int(parts[2]) < 2**31:
        raise NotFound(f"No registered version files at {raw[:200]!r}")
    return parts[1], int(parts[2]), parts[3] if len(parts) == 4 else ""


def _entries(paths: list[tuple[str, int]], prefix: str) -> dict[str, Any]:
    """The direct children of ``prefix`` among (path, size) files, as MLflow lists them."""
    files: dict[str, dict[str, Any]] = {}
    for path, size in paths:
        head, sep, _rest = path[len(prefix) :].partition("/")
        if sep:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": size}
    return {"files": list(files.values())} if files else {}


def _stream(path: str, content_type: str | None, size: int, key: str) -> Response:
    headers = {**svc.file_headers(path, content_type), "Content-Length": str(size)}
    if size == 0:
        return Response(status=200, headers=headers)
    context.runtime().metrics.artifact_out(size)
    body = svc.byte_iter(context.store(), key, 0, size - 1)
    return Response(zerocopy.serve(body, request.environ, size), headers=headers, direct_passthrough=True)


def _run_in(experiment_id: int, run_experiment_id: int, run_id: str) -> None:
    if run_experiment_id != experiment_id:
        raise NotFound(f"Run {run_id!r} is not in experiment {experiment_id}")


@access("writer")
def upload(path: str) -> Any:
    """Stream the raw body into the run's artifacts (the row is written after the bytes moved)."""
    experiment_id, run_id, rel = _split(path)
    with context.separate() as s:
        target = svc.new_upload_target(s, context.principal(), run_id, svc.check_path(rel))
    _run_in(experiment_id, target.experiment_id, run_id)
    receive_body(target, None)
    return jsonify({})


@access("viewer")
def download(path: str) -> Response:
    session, actor = context.db(), context.principal()
    version = _registry(path)
    if version is not None:
        name, number, rel = version
        f = deploy.get_file(session, actor, name, number, svc.check_path(rel))
        return _stream(f.path, None, f.size, f.storage_key)
    experiment_id, run_id, rel = _split(path)
    run = runs_svc.get_run(session, actor, run_id)
    _run_in(experiment_id, run.experiment_id, run_id)
    art = svc.get_artifact(session, actor, run_id, svc.check_path(rel))
    return _stream(art.path, art.content_type, art.size, art.storage_key)


@access("viewer")
def list_() -> Any:
    """The folder's direct children as ``{"files": [{path, is_dir, file_size}]}`` (names relative to
    the folder); ``{}`` for a missing folder or a file path, as MLflow's server answers."""
    raw = cv.text(cv.args(), "path")
    session, actor = context.db(), context.principal()
    version = _registry(raw)
    if version is not None:
        name, number, rel = version
        _model, mv = registry_svc.get_version(session, actor, name, number)
        prefix = svc.check_path(rel, allow_empty=True)
        prefix = prefix + "/" if prefix else ""
        found = [(p, size) for p, size, _key in deploy.version_files(session, mv.id) if p.startswith(prefix)]
        return jsonify(_entries(found, prefix))
    experiment_id, run_id, rel = _split(raw)
    run = runs_svc.get_run(session, actor, run_id)
    _run_in(experiment_id, run.experiment_id, run_id)
    prefix = svc.check_path(rel, allow_empty=True)
    hidden: set[str] = set()
    if raw.strip("/").split("/")[1] != "models":  # the run's own listing leaves its logged models out
        hidden = logged_models.logged_names(runs_svc.run_details(session, [run])[run.id]["tags"])
        if prefix.split("/", 1)[0] in hidden:
            return jsonify({})
    prefix = prefix + "/" if prefix else ""
    paths: list[tuple[str, int]] = []
    token: str | None = None
    while True:
        items, token = svc.list_artifacts(session, actor, run_id, prefix, _LIST_PAGE, token)
        paths += [(a.path, a.size) for a in items if a.path.split("/", 1)[0] not in hidden]
        if not token:
            break
    return jsonify(_entries(paths, prefix))
