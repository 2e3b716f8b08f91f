from __future__ import annotations

from flask import Response, jsonify, send_from_directory
from flask_smorest import Blueprint

from .. import __version__, context
from ..access import access
from ..telemetry import check_dependencies

blp = Blueprint("health", __name__, description="Liveness, readiness and API docs")


@blp.route("/health", methods=["GET"])
@access("public")
def health() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok", "version": __version__})


@blp.route("/ready", methods=["GET"])
@access("public")
def ready() -> Response:
    """Readiness: each dependency (database, artifact store) answers; 503 naming the failing ones when
    not, so a load balancer stops sending traffic here."""
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
    return jsonify({"status": "ok", "checks": checks, "artifact_store": rt.store.kind})


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
