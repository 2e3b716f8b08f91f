"""Tether server. ``create_app`` only wires things together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask loads with create_app: gunicorn's master imports this package for its
    from flask import Flask  # hooks and logger class, and needs none of the app

__version__ = "0.1.0"


def create_app(settings: Any = None) -> Flask:
    from flask import Flask

    from . import bodyguard, pipeline, services
    from .api import register_api
    from .config import Settings
    from .errors import register_error_handlers
    from .flaskjson import OrjsonProvider
    from .runtime import Runtime
    from .secrets_store import load_secret_key
    from .urlrules import LazyBuildRule

    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.url_rule_class = LazyBuildRule  # URL builders compiled when url_for first needs them
    app.json = OrjsonProvider(app)
    app.config.update(
        SECRET_KEY=load_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_NAME="tether_session",
        TESTING=settings.testing,
    )
    runtime = Runtime.build(settings)
    runtime.install(app)
    _ = services
    pipeline.install(app)
    bodyguard.install(app)
    register_api(app)
    from .api import mlflow

    mlflow.register(app)  # the MLflow client's REST surface, translated onto the same services
    from .ui import register_web

    register_web(app)
    from .api import scrape

    scrape.register(app, settings.metrics)
    register_error_handlers(app)  # last: replaces flask-smorest's own handlers
    from . import proxy

    proxy.install(app, settings)  # TETHER_PUBLIC_URL prefix and TETHER_TRUSTED_PROXIES
    runtime.start()  # background workers (workers/), stopped by runtime.close() or at exit
    return app
