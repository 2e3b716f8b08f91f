from __future__ import annotations

from typing import Any

from flask import Response, send_from_directory
from sqlalchemy import text

from .. import __version__, context
from ..access import access
from ..schemas.health import HealthSchema, ReadySchema
from . import Blueprint, raw_responses

blp = Blueprint("health", __name__, description="Liveness, readiness and API docs")


@blp.route("/health", methods=["GET"])
@access("public")
@blp.response(200, HealthSchema)
def health() -> Any:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@blp.route("/ready", methods=["GET"])
@access("public")
@blp.response(200, ReadySchema)
def ready() -> Any:
    """Readiness: the database answers."""
    with context.separate() as s:
        s.execute(text("SELECT 1"))
    store = context.store()
    return {"status": "ok", "database": "ok", "artifact_store": store.kind}


@blp.route("/docs", methods=["GET"])
@access("public")
@blp.doc(**raw_responses("text/html"))
def docs() -> str:
    """Interactive API documentation (Swagger UI, served locally: no CDN)."""
    from flask import render_template

    return render_template("api_docs.html")


@blp.route("/docs/assets/<path:filename>", methods=["GET"])
@access("public")
@blp.doc(**raw_responses("*/*", not_modified=True))
def docs_assets(filename: str) -> Response:
    import swagger_ui_bundle

    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)


@blp.route("/docs/init.js", methods=["GET"])
@access("public")
@blp.doc(**raw_responses("application/javascript"))
def docs_init() -> Response:
    js = (
        "window.onload = function () { var el = document.getElementById('swagger-ui');"
        " SwaggerUIBundle({url: el.dataset.specUrl, dom_id: '#swagger-ui'}); };"
    )
    return Response(js, mimetype="application/javascript")
