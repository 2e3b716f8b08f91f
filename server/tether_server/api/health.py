from __future__ import annotations

from typing import Any

from flask import Response, jsonify, send_from_directory

from .. import __version__, context
from ..access import access
from ..schemas.health import HealthSchema, ReadySchema
from ..telemetry import check_dependencies
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
    """Readiness: each dependency (database, artifact store) answers; 503 with ``Retry-After`` naming the
    failing ones when not, so a load balancer stops sending traffic here."""
    rt = context.runtime()
    probes = check_dependencies(rt)
    checks = {
        p.name: {"status": "ok" if p.ok else "down", "detail": p.detail, "ms": round(p.ms, 1)} for p in probes
    }
    down = [p.name for p in probes if not p.ok]
    if down:
        body = {
            "status": "unavailable",
            "checks": checks,
            "error": {
                "code": "UNAVAILABLE",
                "message": f"Not ready: {', '.join(down)} unavailable",
                "details": {"failing": down},
            },
        }
        resp = jsonify(body)
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return resp
    return {"status": "ok", "database": "ok", "artifact_store": rt.store.kind, "checks": checks}


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
