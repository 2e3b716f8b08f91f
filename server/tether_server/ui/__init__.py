"""Server-rendered UI (Jinja templates in the top-level web/ folder, shipped in the wheel)."""

from __future__ import annotations

import importlib
from pathlib import Path

from flask import Flask
from jinja2 import FileSystemLoader

UI_MODULES = [
    "static",
    "pages_auth",
    "pages_tracking",
    "pages_models",
    "pages_review",
    "pages_audit",
    "pages_lineage",
    "pages_admin",
    "pages_monitoring",
    "pages_abtests",
]


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
    for name in UI_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        app.register_blueprint(module.bp)
