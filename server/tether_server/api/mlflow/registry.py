"""MLflow model-registry routes (``registered-models/*``, ``model-versions/*``) over
``services.registry``: the same rows, grants, audit events and stage governance as ``/api/v1/models``.

Differences from MLflow's server, kept for Tether's governance and data safety (README, "MLflow
compatibility"): a version's files are COPIED from the run's artifacts when it is registered (so its
``source`` must be a run artifact URI, and its download URI serves the registry's copy);
``transition-stage`` to a stage whose policy needs approvals opens a transition request and answers
PERMISSION_DENIED naming it; version tags live in the version's metadata (``extra.mlflow_tags``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from ... import context
from ...access import Principal, access
from ...errors import InvalidArgument, PermissionDenied
from ...models.registry import ModelVersion, RegisteredModel
from ...services.artifacts.files import check_path, experiment_of
from ...services.registry import catalog as svc
from ...services.registry import deploy, transitions, versions
from . import convert as cv
from . import logged_models

bp = Blueprint("mlflow_registry", __name__)

_SOURCE_HTTP = re.compile(r"^https?://[^/]+(?:/.*)?/api/2\.0/mlflow-artifacts/artifacts/(.*)$")
_SEARCH_TERM = re.compile(
    r"""^\s*(?:attributes\.)?(name|run_id)\s*(=|LIKE|ILIKE)\s*(['"])(.*?)\3\s*$""", re.I | re.S
)
_MAX_SEARCH = 1000


def _kw() -> dict[str, Any]:
    return {"request_id": context.request_id()}


def _name(body: dict[str, Any]) -> str:
    name = cv.text(body, "name")
    assert name is not None
    return name


def _version_number(body: dict[str, Any]) -> int:
    number = cv.integer(body, "version")
    if number is None or not 0 < number < 2**31:
        raise InvalidArgument("Parameter 'version' must be a positive integer", {"field": "version"})
    return number


# ---------------------------------------------------------------- JSON


def model_version(
    session: Session, name: str, mv: ModelVersion, aliases: list[str] | None = None
) -> dict[str, Any]:
    if aliases is None:
        aliases = svc.aliases_of(session, [mv.id])[mv.id]
    tags = versions.version_tags(mv)
    out: dict[str, Any] = {
        "name": name,
        "version": str(mv.version),
        "creation_timestamp": mv.created_at,
        "last_updated_timestamp": mv.updated_at,
        "current_stage": mv.stage,
        "description": mv.description,
        "source": f"runs:/{mv.run_id}/{mv.artifact_path}" if mv.run_id else "",
        "status": "READY",
        "tags": cv.pairs(tags),
        "aliases": aliases,
    }
    if mv.run_id:
        out["run_id"] = mv.run_id
    return out


def registered_model(session: Session, model: RegisteredModel) -> dict[str, Any]:
    summary = svc.model_summaries(session, [model])[0]
    latest = [model_version(session, model.name, mv) for mv in versions.latest_per_stage(session, model.id)]
    return {
        "name": model.name,
        "creation_timestamp": model.created_at,
        "last_updated_timestamp": model.updated_at,
        "description": model.description,
        "tags": cv.pairs(model.tags or {}),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(summary["aliases"].items())],
        "latest_versions": latest,
    }


# ---------------------------------------------------------------- registered models


@bp.route("/registered-models/create", methods=["POST"])
@access("writer")
def model_create() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.create_model(
        session,
        context.principal(),
        _name(body),
        description=body.get("description") or "",
        tags=cv.key_values(body.get("tags"), "tags"),
        **_kw(),
    )
    return jsonify({"registered_model": registered_model(session, model)})


@bp.route("/registered-models/get", methods=["GET"])
@access("viewer")
def model_get() -> Any:
    session = context.db()
    model = svc.get_model(session, context.principal(), _name(cv.args()))
    return jsonify({"registered_model": registered_model(session, model)})


@bp.route("/registered-models/update", methods=["PATCH", "POST"])
@access("writer")
def model_update() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.update_model(
        session, context.principal(), _name(body), description=body.get("description"), **_kw()
    )
    return jsonify({"registered_model": registered_model(session, model)})


@bp.route("/registered-models/delete", methods=["DELETE"])
@access("writer")
def model_delete() -> Any:
    svc.delete_model(context.db(), context.principal(), context.store(), _name(cv.args()), **_kw())
    return jsonify({})


@bp.route("/registered-models/set-tag", methods=["POST"])
@access("writer")
def model_set_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    assert key is not None
    svc.update_model(
        context.db(), context.principal(), _name(body), tags={key: body.get("value", "")}, **_kw()
    )
    return jsonify({})


@bp.route("/registered-models/search", methods=["GET", "POST"])
@access("viewer")
def model_search() -> Any:
    body = cv.args()
    session = context.db()
    name, like = _filter(body.get("filter"), ("name",))
    rows, nxt = svc.list_models(
        session,
        context.principal(),
        name_like=name.get("name"),  # LIKE on the exact name narrows it; the check below is exact
        max_results=max(1, min(cv.integer(body, "max_results", 100) or 100, _MAX_SEARCH)),
        page_token=body.get("page_token") or None,
    )
    rows = [m for m in rows if _matches(m.name, name.get("name"), like.get("name"))]
    out: dict[str, Any] = {"registered_models": [registered_model(session, m) for m in rows]}
    if nxt:
        out["next_page_token"] = nxt
    return jsonify(out)


def _filter(raw: Any, fields: tuple[str, ...]) -> tuple[dict[str, str], dict[str, re.Pattern[str]]]:
    """The registry-search filter subset: ``field = '...'`` / ``field [I]LIKE '...'`` terms joined by AND."""
    equal: dict[str, str] = {}
    like: dict[str, re.Pattern[str]] = {}
    if not raw:
        return equal, like
    for term in re.split(r"\s+AND\s+", str(raw), flags=re.I):
        m = _SEARCH_TERM.match(term)
        if m is None or m.group(1).lower() not in fields:
            raise InvalidArgument(
                f"Supported filters: {', '.join(fields)} with =, LIKE or ILIKE, joined by AND",
                {"field": "filter"},
            )
        field, op, value = m.group(1).lower(), m.group(2).upper(), m.group(4)
        if op == "=":
            equal[field] = value
        else:
            pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
            like[field] = re.compile(pattern, re.S | (re.I if op == "ILIKE" else 0))
    return equal, like


def _matches(value: str | None, equal: str | None, like: re.Pattern[str] | None) -> bool:
    if equal is not None and value != equal:
        return False
    return like is None or (value is not None and like.fullmatch(value) is not None)


@bp.route("/registered-models/get-latest-versions", methods=["POST", "GET"])
@access("viewer")
def latest_versions() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.get_model(session, context.principal(), _name(body))
    stages = body.get("stages") or []
    if isinstance(stages, str):
        stages = [stages]
    wanted = {svc.canonical_stage(s) for s in stages}
    out = [
        v
        for v in registered_model(session, model)["latest_versions"]
        if not wanted or v["current_stage"] in wanted
    ]
    return jsonify({"model_versions": out})


# ---------------------------------------------------------------- aliases


@bp.route("/registered-models/alias", methods=["POST"])
@access("writer")
def alias_set() -> Any:
    body = cv.args()
    alias = cv.text(body, "alias")
    assert alias is not None
    svc.set_alias(context.db(), context.principal(), _name(body), alias, _version_number(body), **_kw())
    return jsonify({})


@bp.route("/registered-models/alias", methods=["DELETE"])
@access("writer")
def alias_delete() -> Any:
    body = cv.args()
    alias = cv.text(body, "alias")
    assert alias is not None
    svc.delete_alias(context.db(), context.principal(), _name(body), alias, **_kw())
    return jsonify({})


@bp.route("/registered-models/alias", methods=["GET"])
@access("viewer")
def alias_get() -> Any:
    body = cv.args()
    session, actor, name = context.db(), context.principal(), _name(body)
    alias = cv.text(body, "alias")
    _model_id, _vid, number, _etag = deploy.resolve(session, actor, name, alias=alias)
    _model, mv = svc.get_version(session, actor, name, number)
    return jsonify({"model_version": model_version(session, name, mv)})


# ---------------------------------------------------------------- versions


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


@bp.route("/model-versions/create", methods=["POST"])
@access("writer")
def version_create() -> Any:
    body = cv.args()
    actor, name = context.principal(), _name(body)
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
        **_kw(),
    )
    return jsonify({"model_version": model_version(session, name, mv, [])})


@bp.route("/model-versions/get", methods=["GET"])
@access("viewer")
def version_get() -> Any:
    body = cv.args()
    session, name = context.db(), _name(body)
    _model, mv = svc.get_version(session, context.principal(), name, _version_number(body))
    return jsonify({"model_version": model_version(session, name, mv)})


@bp.route("/model-versions/update", methods=["PATCH", "POST"])
@access("writer")
def version_update() -> Any:
    body = cv.args()
    session, name = context.db(), _name(body)
    mv = svc.update_version(
        session,
        context.principal(),
        name,
        _version_number(body),
        description=body.get("description") or "",
        **_kw(),
    )
    return jsonify({"model_version": model_version(session, name, mv)})


@bp.route("/model-versions/delete", methods=["DELETE"])
@access("writer")
def version_delete() -> Any:
    body = cv.args()
    svc.delete_version(
        context.db(), context.principal(), context.store(), _name(body), _version_number(body), **_kw()
    )
    return jsonify({})


@bp.route("/model-versions/search", methods=["GET", "POST"])
@access("viewer")
def version_search() -> Any:
    body = cv.args()
    session, actor = context.db(), context.principal()
    equal, like = _filter(body.get("filter"), ("name", "run_id"))
    limit = max(1, min(cv.integer(body, "max_results", _MAX_SEARCH) or _MAX_SEARCH, _MAX_SEARCH))
    found = versions.search_versions(
        session,
        actor,
        name=equal.get("name"),
        run_id=equal.get("run_id"),
        limit=limit if not like else 50_000,
    )
    rows = [
        (mv, n)
        for mv, n in found
        if _matches(n, None, like.get("name")) and _matches(mv.run_id, None, like.get("run_id"))
    ][:limit]
    aliases = svc.aliases_of(session, [mv.id for mv, _ in rows])
    return jsonify({"model_versions": [model_version(session, n, mv, aliases[mv.id]) for mv, n in rows]})


@bp.route("/model-versions/get-download-uri", methods=["GET"])
@access("viewer")
def version_download_uri() -> Any:
    """The registry's own copy of the version's files (``artifacts``: ``registry/<name>/<version>``)."""
    body = cv.args()
    name, number = _name(body), _version_number(body)
    svc.get_version(context.db(), context.principal(), name, number)
    return jsonify({"artifact_uri": f"mlflow-artifacts:/registry/{name}/{number}"})


@bp.route("/model-versions/transition-stage", methods=["POST"])
@access("writer")
def version_transition() -> Any:
    """Governed: a stage whose policy needs approvals gets a transition request (committed) and the
    answer is PERMISSION_DENIED naming it; a stage needing none moves at once."""
    body = cv.args()
    actor, name, number = context.principal(), _name(body), _version_number(body)
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
            **_kw(),
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


@bp.route("/model-versions/set-tag", methods=["POST"])
@access("writer")
def version_set_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    assert key is not None
    versions.set_version_tags(
        context.db(),
        context.principal(),
        _name(body),
        _version_number(body),
        {key: body.get("value", "")},
        **_kw(),
    )
    return jsonify({})


@bp.route("/model-versions/delete-tag", methods=["DELETE"])
@access("writer")
def version_delete_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    assert key is not None
    versions.set_version_tags(
        context.db(), context.principal(), _name(body), _version_number(body), {key: None}, **_kw()
    )
    return jsonify({})
