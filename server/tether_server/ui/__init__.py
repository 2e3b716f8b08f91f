"""Server-rendered UI (Jinja templates in the top-level web/ folder, shipped in the wheel)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask
from jinja2 import FileSystemLoader

from ..urlrules import Routes, add_routes

#: Every page route, by module: (module, blueprint, a UI blueprint?, (rule, view function, methods)).
#: A module loads on the first request to one of its routes (``urlrules.LazyView``). A UI blueprint
#: (``common.ui_blueprint``) renders its errors as pages and sends a signed-out visitor to the login.
ROUTES: tuple[tuple[str, str, bool, Routes], ...] = (
    ("static", "ui_static", False, (("/static/<path:filename>", "asset", ("GET",)),)),
    (
        "pages_auth",
        "ui_auth",
        False,
        (
            ("/login", "login", ("GET", "POST")),
            ("/logout", "logout", ("POST",)),
        ),
    ),
    (
        "pages_tracking",
        "ui_tracking",
        True,
        (
            ("/", "experiments_list", ("GET",)),
            ("/experiments/<int:experiment_id>", "runs_table", ("GET",)),
            ("/runs/<run_id>", "run_detail", ("GET",)),
            ("/compare", "compare", ("GET",)),
            ("/compare/history", "compare_history", ("GET",)),
        ),
    ),
    (
        "pages_models",
        "ui_models",
        True,
        (
            ("/models", "models_list", ("GET",)),
            ("/models/<name>", "model_detail", ("GET",)),
            ("/models/<name>/versions/<int:version>", "version_detail", ("GET",)),
            ("/models/<name>/versions/<int:version>/request", "request_transition", ("POST",)),
            ("/models/<name>/versions/<int:version>/card", "edit_card", ("POST",)),
        ),
    ),
    (
        "pages_review",
        "ui_review",
        True,
        (
            ("/reviews", "reviews_list", ("GET",)),
            ("/reviews/<int:transition_id>", "review", ("GET",)),
            ("/reviews/<int:transition_id>/decision", "decide", ("POST",)),
        ),
    ),
    ("pages_audit", "ui_audit", True, (("/audit", "audit_trail", ("GET",)),)),
    (
        "pages_lineage",
        "ui_lineage",
        True,
        (
            ("/lineage/models/<name>/<int:version>", "model_version", ("GET",)),
            ("/lineage/datasets/<int:dataset_version_id>", "dataset_version", ("GET",)),
        ),
    ),
    (
        "pages_admin",
        "ui_admin",
        True,
        (
            ("/admin/users", "users_page", ("GET",)),
            ("/admin/users", "create_user", ("POST",)),
            ("/admin/users/<int:user_id>", "update_user", ("POST",)),
            ("/admin/tokens", "tokens_page", ("GET",)),
            ("/admin/tokens/<int:token_id>/revoke", "revoke_token", ("POST",)),
            ("/admin/permissions", "permissions_page", ("GET",)),
            ("/admin/permissions", "change_permission", ("POST",)),
            ("/admin/webhooks", "webhooks_page", ("GET",)),
            ("/admin/webhooks", "create_webhook", ("POST",)),
            ("/admin/webhooks/<int:webhook_id>", "webhook_detail", ("GET",)),
            ("/admin/webhooks/<int:webhook_id>/ping", "ping_webhook", ("POST",)),
        ),
    ),
    ("pages_monitoring", "ui_monitoring", True, (("/monitors/<int:monitor_id>", "monitor_page", ("GET",)),)),
    ("pages_abtests", "ui_abtests", True, (("/ab-tests/<int:test_id>", "abtest_page", ("GET",)),)),
)


def web_root() -> Path:
    """web/ from the wheel (tether_server._web) or, in a source checkout, the repo's web/."""
    shipped = Path(__file__).resolve().parents[1] / "_web"
    if (shipped / "templates").is_dir():
        return shipped
    return Path(__file__).resolve().parents[3] / "web"


def register_web(app: Flask) -> None:
    root = web_root()
    app.jinja_loader = FileSystemLoader(str(root / "templates"))
    app.config["TETHER_WEB_ROOT"] = str(root)
    from . import common, csrf

    csrf.install(app)
    common.install_helpers(app)
    for module, name, ui, routes in ROUTES:
        bp = common.ui_blueprint(name, __name__) if ui else Blueprint(name, __name__)
        app.register_blueprint(add_routes(bp, f"{__name__}.{module}", routes))
