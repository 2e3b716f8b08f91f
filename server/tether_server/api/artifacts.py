"""Artifacts: proxied streaming PUT/GET/DELETE, listing, multipart (proxied or presigned) uploads.

Routes under ``/runs/<run_id>/artifacts``. ``uploads`` sub-routes take precedence over artifact paths
for the methods they use (an artifact named ``uploads/<id>/parts/<n>`` cannot be PUT directly).
Bytes are never held in memory or on temp disk, and no database write transaction is open while they
move: checks use a short read session, the row is written at the end.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request
from marshmallow import fields, validate
from werkzeug.routing import PathConverter

from .. import context
from ..access import access
from ..errors import InvalidArgument, NotFound
from ..schemas import Strict
from ..schemas.artifacts import (
    ArtifactListArgs,
    ArtifactPageSchema,
    ArtifactSchema,
    DownloadRequestSchema,
    DownloadSchema,
    UploadCreateSchema,
    UploadSchema,
)
from ..services.artifacts import files as svc
from ..storage import zerocopy
from . import Blueprint, raw_responses

blp = Blueprint("artifacts", __name__, description="Run artifacts in the artifact store")


class AnyPathConverter(PathConverter):
    """Like ``path`` but also matches a leading slash, so absolute paths reach the check (→ 400)."""

    regex = r"[\s\S]*?"
    part_isolating = False


blp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))
MAX_BODY = 5 * 1024**4


def _store() -> Any:
    return context.store()


def _read_target(run_id: str, path: str, new: bool = True) -> svc.Target:
    with context.separate() as s:
        fn = svc.new_upload_target if new else svc.writable_target
        return fn(s, context.principal(), run_id, path)


def _sha_header() -> str | None:
    value = request.headers.get("X-Content-SHA256")
    if value is not None and not svc.SHA256_RE.match(value):
        raise InvalidArgument("X-Content-SHA256 must be 64 hex digits", {"header": "X-Content-SHA256"})
    return value.lower() if value else None


def receive_body(target: svc.Target, expected_sha256: str | None) -> Any:
    """Stream the request body to ``target`` in the store, count it, then record the artifact row
    (the single-request upload of this API and of the MLflow artifact proxy)."""
    request.max_content_length = MAX_BODY
    size, sha = svc.stream_in(_store(), target, request.stream, request.content_length, expected_sha256)
    context.runtime().metrics.artifact_in(size)
    content_type = svc.record_content_type(request.content_type)
    return svc.record(context.db(), context.principal(), target, size, sha, content_type, _store())


# Paths that belong to the multipart part route (``uploads/<id>/parts/<n>``) are never artifact names.
_PART_PATH = re.compile(r"uploads/[^/]+/parts/[^/]+")


@blp.route("/runs/<run_id>/artifacts/<anypath:path>", methods=["PUT"], merge_slashes=False)
@access("writer")
@blp.response(201, ArtifactSchema)
def upload(run_id: str, path: str) -> Any:
    """Stream the body into the store (multipart when the length is unknown); then record it."""
    if _PART_PATH.fullmatch(path):  # the upload-part route's space, e.g. a part number out of range
        raise NotFound(f"No upload part at {path[:200]!r}", {"path": path[:200]})
    return receive_body(_read_target(run_id, svc.check_path(path)), _sha_header())


@blp.route("/runs/<run_id>/artifacts/<anypath:path>", methods=["GET"], merge_slashes=False)
@access("viewer")
@blp.doc(**raw_responses("*/*", not_modified=True, ranges=True))
def download(run_id: str, path: str) -> Response:
    """The object's bytes, with Content-Length, ETag (its sha256) and single-range support.

    Always a download: ``Content-Disposition: attachment``, ``nosniff``, a sandbox CSP, and never a
    type a browser would render as a page (HTML/SVG/XML/JS are served as application/octet-stream)."""
    art = svc.get_artifact(context.db(), context.principal(), run_id, svc.check_path(path))
    etag = f'"{art.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-SHA256": art.sha256,
        "Cache-Control": "private, no-cache",
        **svc.file_headers(art.path, art.content_type),
    }
    if etag in request.if_none_match.as_set(True) or request.if_none_match.contains_weak(art.sha256):
        return Response(status=304, headers=headers)
    rng = request.range if request.headers.get("If-Range", etag) == etag else None
    status, start, end = 200, 0, art.size - 1
    if rng is not None:
        span = rng.range_for_length(art.size)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{art.size}"})
        status, start, end = 206, span[0], span[1] - 1
        headers["Content-Range"] = f"bytes {start}-{end}/{art.size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if request.method == "HEAD" or art.size == 0:  # no body; the Content-Length above stays the object's
        return Response(status=status, headers=headers)
    body = svc.byte_iter(_store(), art.storage_key, start, end)
    context.runtime().metrics.artifact_out(end - start + 1)
    return Response(
        zerocopy.serve(body, request.environ, end - start + 1),
        status=status,
        headers=headers,
        direct_passthrough=True,
    )


@blp.route("/runs/<run_id>/artifacts/<anypath:path>", methods=["DELETE"], merge_slashes=False)
@access("writer")
@blp.response(204)
def delete(run_id: str, path: str) -> Any:
    svc.delete_artifact(context.db(), context.principal(), _store(), run_id, svc.check_path(path))
    return None


@blp.route("/runs/<run_id>/artifacts", methods=["GET"])
@access("viewer")
@blp.arguments(ArtifactListArgs, location="query")
@blp.response(200, ArtifactPageSchema)
def list_(args: dict[str, Any], run_id: str) -> Any:
    prefix = svc.check_path(args["prefix"], allow_empty=True)
    if args["prefix"].endswith("/") and prefix:
        prefix += "/"
    items, nxt = svc.list_artifacts(
        context.db(), context.principal(), run_id, prefix, args["max_results"], args["page_token"]
    )
    return {"items": items, "next_page_token": nxt}


@blp.route("/runs/<run_id>/artifacts/downloads", methods=["POST"])
@access("viewer")
@blp.arguments(DownloadRequestSchema)
@blp.response(200, DownloadSchema)
def presign_download(body: dict[str, Any], run_id: str) -> Any:
    """A presigned GET URL when the store offers direct transfer; otherwise mode=proxy."""
    art = svc.get_artifact(context.db(), context.principal(), run_id, svc.check_path(body["path"]))
    out = {"path": art.path, "size": art.size, "sha256": art.sha256, "mode": "proxy", "url": None}
    if _store().supports_presign:
        url = _store().presign_get(art.storage_key, svc.PRESIGN_SECONDS, art.path.rsplit("/", 1)[-1])
        out.update(mode="direct", url=url, expires_in=svc.PRESIGN_SECONDS)
    return out


@blp.route("/runs/<run_id>/artifacts/uploads", methods=["POST"])
@access("writer")
@blp.arguments(UploadCreateSchema)
@blp.response(201, UploadSchema)
def start_upload(body: dict[str, Any], run_id: str) -> Any:
    up = svc.start_upload(
        context.db(),
        context.principal(),
        _store(),
        run_id,
        svc.check_path(body["path"]),
        body["size"],
        body["sha256"],
        body["part_size"],
        body.get("content_type"),
    )
    return svc.describe_upload(up, _store(), {})


@blp.route("/runs/<run_id>/artifacts/uploads/<upload_id>", methods=["GET"])
@access("writer")
@blp.response(200, UploadSchema)
def get_upload(run_id: str, upload_id: str) -> Any:
    """Progress (parts already stored) and fresh URLs for the missing parts: resume from here."""
    up = svc.get_upload(context.db(), context.principal(), run_id, upload_id)
    done = _store().multipart_parts(up.storage_key, up.s3_upload_id or "") if up.status == "pending" else {}
    return svc.describe_upload(up, _store(), done)


@blp.route("/runs/<run_id>/artifacts/uploads/<upload_id>/parts/<int:part_number>", methods=["PUT"])
@access("writer")
@blp.response(200, UploadSchema)
def put_part(run_id: str, upload_id: str, part_number: int) -> Any:
    with context.separate() as s:
        up = svc.pending_upload(s, context.principal(), run_id, upload_id)
    want = svc.part_length(up, part_number)
    if request.content_length is not None and request.content_length != want:
        raise InvalidArgument(f"Part {part_number} must be {want} bytes", {"expected": want})
    request.max_content_length = MAX_BODY
    _store().multipart_put_part(up.storage_key, up.s3_upload_id or "", part_number, request.stream, want)
    context.runtime().metrics.artifact_in(want)
    return {"upload_id": up.id, "status": up.status, "parts_done": [part_number]}


class CompleteSchema(Strict):
    content_type = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={
            "description": "the artifact's media type (default: the one "
            "given when the upload started, else "
            "application/octet-stream)"
        },
    )


@blp.route("/runs/<run_id>/artifacts/uploads/<upload_id>/complete", methods=["POST"])
@access("writer")
@blp.arguments(CompleteSchema, required=False)
@blp.response(200, UploadSchema)
def complete_upload(body: dict[str, Any], run_id: str, upload_id: str) -> Any:
    """Assemble the parts, verify size and sha256, then record the artifact."""
    with context.separate() as s:
        up = svc.pending_upload(s, context.principal(), run_id, upload_id)
    size, sha = svc.finish_upload(_store(), up)
    session = context.db()
    target = svc.Target(up.run_id, svc.experiment_of(session, up.run_id), up.path, up.storage_key)
    given = (body or {}).get("content_type")  # at completion; else the one given at the start
    art = svc.record(
        session,
        context.principal(),
        target,
        size,
        sha,
        svc.record_content_type(given if given else up.content_type),
        _store(),
    )
    svc.mark_upload(session, up.id, "completed")
    return {**svc.describe_upload(up, _store(), None), "status": "completed", "artifact": art}


@blp.route("/runs/<run_id>/artifacts/uploads/<upload_id>/abort", methods=["POST"])
@access("writer")
@blp.response(200, UploadSchema)
def abort_upload(run_id: str, upload_id: str) -> Any:
    up = svc.abort_upload(context.db(), context.principal(), _store(), run_id, upload_id)
    return svc.describe_upload(up, _store(), None)
