"""MLflow model-version routes (``model-versions/*``) over ``services.registry``; see ``registry``
for the shared JSON and the differences from MLflow's server."""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from ... import context
from ...access import Principal, access
from ...errors import InvalidArgument, PermissionDenied
from ...models.registry import ModelVersion, RegisteredModel
from ...services.artifacts.files import check_path, experiment_of
from ...services.registry import catalog as svc
from ...services.registry import transitions, versions
from . import convert as cv
from . import logged_models
from .registry import kw, model_version, name_of, search_filter, version_number

_SOURCE_HTTP = re.compile(r"^https?://[^/]+(?:/.*)?/api/2\.0/mlflow-artifacts/artifacts/(.*)$")
_MAX_SEARCH = 1000


def parse_source(session: Session, actor: Principal, source: Any, run_id: str | None) -> tuple[str, str]:
    """(run id, artifact folder) named by an MLflow version ``source``: ``runs:/<run>/<path>``,
    ``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`` or its resolved http(s) form."""
    if not isinstance(source, str) or not source:
        raise InvalidArgument("Missing value for required parameter 'source'", {"field": "source"})
    if source.startswith("runs:/"):
        rid, _, path = source[len("runs:/") :].strip("/").partition("/")
    elif source.startswith("models:/m-"):  # a logged model: its run's folder
        rid, path = logged_models.parse_id(source[len("models:/") :].strip("/"))
    else:
        m = _SOURCE_HTTP.match(source)
        tail = (
            m.group(1)
            if m
            else source[len("mlflow-artifacts:") :]
            if source.startswith("mlflow-artifacts:")
            else None
        )
        parts = (tail or "").strip("/").split("/", 3)
        if tail is None or len(parts) < 3 or parts[2] != "artifacts" or not parts[0].isdigit():
            raise InvalidArgument(
                "Tether registers versions from a run's artifacts: the source must be runs:/<run>/<path> "
                "or the run's mlflow-artifacts:/<experiment>/<run>/artifacts/<path> URI",
                {"field": "source"},
            )
        rid, path = parts[1], parts[3] if len(parts) == 4 else ""
        if experiment_of(session, rid) != int(parts[0]):
            raise InvalidArgument(f"Run {rid!r} is not in experiment {parts[0]}", {"field": "source"})
    if not rid:
        raise InvalidArgument("The source names no run", {"field": "source"})
    if run_id and run_id != rid:
        raise InvalidArgument("run_id does not match the run named by source", {"field": "run_id"})
    return rid, check_path(path, allow_empty=True)


@access("writer")
def version_create() -> Any:
    body = cv.args()
    actor, name = context.principal(), name_of(body)
    tags = cv.key_values(body.get("tags"), "tags")
    with context.separate() as rs:  # copies files before the write transaction (as /api/v1 does)
        run_id, path = parse_source(rs, actor, body.get("source"), body.get("run_id") or None)
        staged = svc.stage_files(rs, actor, context.store(), name, run_id, path)
    metadata: dict[str, Any] = {"mlflow_tags": tags} if tags else {}
    session = context.db()
    mv = svc.create_version(
        session,
        actor,
        context.store(),
        name,
        staged,
        description=body.get("description") or "",
        metadata=metadata,
        **kw(),
    )
    return jsonify({"model_version": model_version(session, name, mv, [])})


@access("viewer")
def version_get() -> Any:
    body = cv.args()
    session, name = context.db(), name_of(body)
    _model, mv = svc.get_version(session, context.principal(), name, version_number(body))
    return jsonify({"model_version": model_version(session, name, mv)})


@access("writer")
def version_update() -> Any:
    body = cv.args()
    session, name = context.db(), name_of(body)
    mv = svc.update_version(
        session,
        context.principal(),
        name,
        version_number(body),
        description=body.get("description") or "",
        **kw(),
    )
    return jsonify({"model_version": model_version(session, name, mv)})


@access("writer")
def version_delete() -> Any:
    body = cv.args()
    svc.delete_version(
        context.db(), context.principal(), context.store(), name_of(body), version_number(body), **kw()
    )
    return jsonify({})


@access("viewer")
def version_search() -> Any:
    body = cv.args()
    session, actor = context.db(), context.principal()
    wanted = search_filter(body.get("filter"), ("name", "run_id"))
    rows, nxt = versions.search_versions(
        session,
        actor,
        where=wanted.where(
            {"name": RegisteredModel.name, "run_id": ModelVersion.run_id},
            lambda key: ModelVersion.meta[("extra", versions.TAGS_KEY, key)],
        ),
        where_key=wanted.scope,
        max_results=max(1, min(cv.integer(body, "max_results", _MAX_SEARCH) or _MAX_SEARCH, _MAX_SEARCH)),
        page_token=body.get("page_token") or None,
    )
    aliases = svc.aliases_of(session, [mv.id for mv, _ in rows])
    out: dict[str, Any] = {
        "model_versions": [model_version(session, n, mv, aliases[mv.id]) for mv, n in rows]
    }
    if nxt:
        out["next_page_token"] = nxt
    return jsonify(out)


@access("viewer")
def version_download_uri() -> Any:
    """The registry's own copy of the version's files (``artifacts``: ``registry/<name>/<version>``)."""
    body = cv.args()
    name, number = name_of(body), version_number(body)
    svc.get_version(context.db(), context.principal(), name, number)
    return jsonify({"artifact_uri": f"mlflow-artifacts:/registry/{name}/{number}"})


@access("writer")
def version_transition() -> Any:
    """Governed: a stage whose policy needs approvals gets a transition request (committed) and the
    answer is PERMISSION_DENIED naming it; a stage needing none moves at once."""
    body = cv.args()
    actor, name, number = context.principal(), name_of(body), version_number(body)
    stage = svc.canonical_stage(cv.text(body, "stage"))
    archive = body.get("archive_existing_versions")
    with context.separate(write=True) as s:  # the request must persist even though the answer is 403
        req = transitions.request_transition(
            s,
            actor,
            name,
            number,
            stage,
            comment=body.get("comment") or "requested through the MLflow client",
            # Tether keeps one Production version: MLflow's default False leaves it to the policy
            archive_existing=True if archive is True or str(archive).lower() == "true" else None,
            **kw(),
        )
        pending, req_id, need = req.status == "pending", req.id, req.required_approvals
    if pending:
        raise PermissionDenied(
            f"Moving version {number} of {name!r} to {stage} needs {need} approval(s): Tether opened "
            f"transition request {req_id}; review it at {request.host_url.rstrip('/')}/reviews/{req_id} "
            f"(or POST /api/v1/transition-requests/{req_id}/approve). A stage whose policy needs 0 approvals "
            "moves at once."
        )
    session = context.db()
    _model, mv = svc.get_version(session, actor, name, number)
    return jsonify({"model_version": model_version(session, name, mv)})


@access("writer")
def version_set_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    versions.set_version_tags(
        context.db(),
        context.principal(),
        name_of(body),
        version_number(body),
        {key: body.get("value", "")},
        **kw(),
    )
    return jsonify({})


@access("writer")
def version_delete_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    versions.set_version_tags(
        context.db(), context.principal(), name_of(body), version_number(body), {key: None}, **kw()
    )
    return jsonify({})
