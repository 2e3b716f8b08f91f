from __future__ import annotations

from flask import Response, jsonify, send_from_directory
from flask_smorest import Blueprint
from sqlalchemy import text

from .. import __version__, context
from ..access import access

blp = Blueprint("health", __name__, description="Liveness, readiness and API docs")


@blp.route("/health", methods=["GET"])
@access("public")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok", "version": __version__})


@blp.route("/ready", methods=["GET"])
@access("public")
def ready() -> Response:
    """Readiness: the database answers."""
    with context.separate() as s:
        s.execute(text("SELECT 1"))
    store = context.store()
    return jsonify({"status": "ok", "database": "ok", "artifact_store": store.kind})


@blp.route("/docs", methods=["GET"])
@access("public")
def docs() -> Response:
    """Interactive API documentation (Swagger UI, served locally: no CDN)."""
    from flask import render_template

    return render_template("api_docs.html")


@blp.route("/docs/assets/<path:filename>", methods=["GET"])
@access("public")
def docs_assets(filename: str) -> Response:
    import swagger_ui_bundle

    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)


@blp.route("/docs/init.js", methods=["GET"])
@access("public")
def docs_init() -> Response:
    js = (
        "window.onload = function () { var el = document.getElementById('swagger-ui');"
        " SwaggerUIBundle({url: el.dataset.specUrl, dom_id: '#swagger-ui'}); };"
    )
    return Response(js, mimetype="application/javascript")
