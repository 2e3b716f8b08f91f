"""Registered models and versions, aliases, and the deployment reads (stage/alias in one call, ETag/304,
file and archive streams)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from .. import context
from ..access import access
from ..proxy import external_base_url
from ..schemas.registry import (
    AliasSchema,
    AliasSetSchema,
    DeploymentSchema,
    ModelCreateSchema,
    ModelListArgs,
    ModelPageSchema,
    ModelSchema,
    ModelUpdateSchema,
    ModelVersionCreateSchema,
    ModelVersionListArgs,
    ModelVersionPageSchema,
    ModelVersionSchema,
    ModelVersionUpdateSchema,
)
from ..services.artifacts.files import check_path, file_headers
from ..services.registry import catalog as svc
from ..services.registry import deploy
from ..storage import zerocopy
from . import Blueprint, raw_responses

blp = Blueprint(
    "models", __name__, description="Model registry: models, versions, aliases and deployment reads"
)


def _store() -> Any:
    return context.store()


def _kw() -> dict[str, Any]:
    return {"request_id": context.request_id()}


def _summary(model: Any) -> dict[str, Any]:
    return svc.model_summaries(context.db(), [model])[0]


def _version(name: str, mv: Any) -> dict[str, Any]:
    return deploy.version_summary(mv, name, svc.aliases_of(context.db(), [mv.id])[mv.id])


@blp.route("/models", methods=["POST"])
@access("writer")
@blp.arguments(ModelCreateSchema)
@blp.response(201, ModelSchema)
def create(body: dict[str, Any]) -> Any:
    return _summary(svc.create_model(context.db(), context.principal(), **body, **_kw()))


@blp.route("/models", methods=["GET"])
@access("viewer")
@blp.arguments(ModelListArgs, location="query")
@blp.response(200, ModelPageSchema)
def list_(args: dict[str, Any]) -> Any:
    rows, nxt = svc.list_models(
        context.db(),
        context.principal(),
        name_like=args["name"],
        max_results=args["max_results"],
        page_token=args["page_token"],
    )
    return {"items": svc.model_summaries(context.db(), rows), "next_page_token": nxt}


@blp.route("/models/<name>", methods=["GET"])
@access("viewer")
@blp.response(200, ModelSchema)
def get(name: str) -> Any:
    return _summary(svc.get_model(context.db(), context.principal(), name))


@blp.route("/models/<name>", methods=["PATCH"])
@access("writer")
@blp.arguments(ModelUpdateSchema)
@blp.response(200, ModelSchema)
def update(body: dict[str, Any], name: str) -> Any:
    return _summary(svc.update_model(context.db(), context.principal(), name, **body, **_kw()))


@blp.route("/models/<name>", methods=["DELETE"])
@access("writer")
@blp.response(204)
def delete(name: str) -> Any:
    svc.delete_model(context.db(), context.principal(), _store(), name, **_kw())


def _artifact_folder(path: str | None) -> str | None:
    if path:
        check_path(path, allow_empty=True)  # the same rules as the artifact routes; stored as sent
    return path


@blp.route("/models/<name>/versions", methods=["POST"])
@access("writer")
@blp.arguments(ModelVersionCreateSchema)
@blp.response(201, DeploymentSchema)
def register(body: dict[str, Any], name: str) -> Any:
    """Register a version from a run's artifacts; the files are copied into registry-owned storage
    (before the write transaction, so a large copy blocks no other writer). The answer is the
    version as ``GET .../versions/{v}`` shows it: files and datasets included."""
    with context.separate() as rs:
        staged = svc.stage_files(
            rs, context.principal(), _store(), name, body["run_id"], _artifact_folder(body["artifact_path"])
        )
    mv = svc.create_version(
        context.db(),
        context.principal(),
        _store(),
        name,
        staged,
        description=body["description"],
        metadata=body["metadata"],
        **_kw(),
    )
    host = request.host_url.rstrip("/")
    return deploy.describe_version(context.db(), _store(), context.settings().s3_presign, host, name, mv.id)


@blp.route("/models/<name>/versions", methods=["GET"])
@access("viewer")
@blp.arguments(ModelVersionListArgs, location="query")
@blp.response(200, ModelVersionPageSchema)
def list_versions(args: dict[str, Any], name: str) -> Any:
    rows, nxt = svc.list_versions(context.db(), context.principal(), name, **args)
    aliases = svc.aliases_of(context.db(), [r.id for r in rows])
    return {"items": [deploy.version_summary(r, name, aliases[r.id]) for r in rows], "next_page_token": nxt}


@blp.route("/models/<name>/versions/<int:version>", methods=["GET"])
@access("viewer")
@blp.response(200, DeploymentSchema)
@blp.alt_response(304, description="Not Modified (If-None-Match matched the ETag; no body)")
def get_version(name: str, version: int) -> Any:
    return _deployment(name, version=version)


@blp.route("/models/<name>/versions/<int:version>", methods=["PATCH"])
@access("writer")
@blp.arguments(ModelVersionUpdateSchema)
@blp.response(200, ModelVersionSchema)
def update_version(body: dict[str, Any], name: str, version: int) -> Any:
    return _version(
        name, svc.update_version(context.db(), context.principal(), name, version, **body, **_kw())
    )


@blp.route("/models/<name>/versions/<int:version>", methods=["DELETE"])
@access("writer")
@blp.response(204)
def delete_version(name: str, version: int) -> Any:
    svc.delete_version(context.db(), context.principal(), _store(), name, version, **_kw())


@blp.route("/models/<name>/versions/<int:version>/files/<path:path>", methods=["GET"], merge_slashes=False)
@access("viewer")
@blp.doc(**raw_responses("application/octet-stream", not_modified=True))
def get_file(name: str, version: int, path: str) -> Response:
    """One file of a version, streamed; ETag is its sha256; a single ``Range`` (with ``If-Range``)
    answers 206, as run artifacts do, so an interrupted download resumes."""
    f = deploy.get_file(context.db(), context.principal(), name, version, check_path(path))
    etag = f'"{f.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-SHA256": f.sha256,
        "Cache-Control": "private, max-age=31536000, immutable",
        **file_headers(f.path, None),
    }  # attachment, octet-stream, nosniff, sandbox CSP
    if request.if_none_match.contains(f.sha256) or request.if_none_match.contains_weak(f.sha256):
        return Response(status=304, headers=headers)
    rng = request.range if request.headers.get("If-Range", etag) == etag else None
    status, start, end = 200, 0, f.size - 1
    if rng is not None:
        span = rng.range_for_length(f.size)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{f.size}"})
        status, start, end = 206, span[0], span[1] - 1
        headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if not f.size:
        return Response(b"", status=status, headers=headers)
    body = zerocopy.serve(_store().open(f.storage_key, start, end), request.environ, end - start + 1)
    return Response(body, status=status, headers=headers, direct_passthrough=True)


@blp.route("/models/<name>/versions/<int:version>/download", methods=["GET"])
@access("viewer")
@blp.doc(**raw_responses("application/x-tar"))
def download_version(name: str, version: int) -> Response:
    return _archive(name, version=version)


@blp.route("/models/<name>/stages/<stage>", methods=["GET"])
@access("viewer")
@blp.response(200, DeploymentSchema)
@blp.alt_response(304, description="Not Modified (If-None-Match matched the ETag; no body)")
def by_stage(name: str, stage: str) -> Any:
    """The version in a stage (case-insensitive), with run, datasets, metadata and files, in one call."""
    return _deployment(name, stage=stage)


@blp.route("/models/<name>/stages/<stage>/download", methods=["GET"])
@access("viewer")
@blp.doc(**raw_responses("application/x-tar"))
def download_stage(name: str, stage: str) -> Response:
    return _archive(name, stage=stage)


@blp.route("/models/<name>/aliases/<alias>", methods=["GET"])
@access("viewer")
@blp.response(200, DeploymentSchema)
@blp.alt_response(304, description="Not Modified (If-None-Match matched the ETag; no body)")
def by_alias(name: str, alias: str) -> Any:
    return _deployment(name, alias=alias)


@blp.route("/models/<name>/aliases/<alias>/download", methods=["GET"])
@access("viewer")
@blp.doc(**raw_responses("application/x-tar"))
def download_alias(name: str, alias: str) -> Response:
    return _archive(name, alias=alias)


@blp.route("/models/<name>/aliases/<alias>", methods=["PUT"])
@access("writer")
@blp.arguments(AliasSetSchema)
@blp.response(200, AliasSchema)
def set_alias(body: dict[str, Any], name: str, alias: str) -> Any:
    svc.set_alias(context.db(), context.principal(), name, alias, body["version"], **_kw())
    return {"model": name, "alias": alias, "version": body["version"]}


@blp.route("/models/<name>/aliases/<alias>", methods=["DELETE"])
@access("writer")
@blp.response(204)
def delete_alias(name: str, alias: str) -> Any:
    svc.delete_alias(context.db(), context.principal(), name, alias, **_kw())


def _deployment(name: str, **pointer: Any) -> Any:
    session = context.db()
    _mid, vid, _num, etag = deploy.resolve(session, context.principal(), name, **pointer)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.if_none_match.contains_weak(etag[3:-1]):
        return Response(status=304, headers=headers)
    settings = context.settings()
    body = deploy.describe_version(
        session, _store(), settings.s3_presign, external_base_url(settings), name, vid
    )
    return body, headers  # dumped by the route's DeploymentSchema


def _archive(name: str, **pointer: Any) -> Response:
    session = context.db()
    _mid, vid, number, _etag = deploy.resolve(session, context.principal(), name, **pointer)
    files = deploy.version_files(session, vid)
    root = f"{name}-v{number}"
    return Response(
        deploy.tar_stream(_store(), files, root),
        mimetype="application/x-tar",
        direct_passthrough=True,
        headers={"Content-Disposition": f'attachment; filename="{root}.tar"'},
    )
