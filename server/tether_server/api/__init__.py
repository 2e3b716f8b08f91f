"""REST API under /api/v1 (flask-smorest: marshmallow schemas + OpenAPI 3)."""

from __future__ import annotations

import importlib

from flask import Flask
from flask_smorest import Api

from ..runtime import Runtime

API_PREFIX = "/api/v1"

# One module per resource; each exposes ``blp`` (a flask_smorest.Blueprint).
BLUEPRINT_MODULES = [
    "health",
    "experiments",
    "runs",
    "metrics",
    "users",
    "tokens",
    "permissions",
    "audit",
    "artifacts",
    "datasets",
    "models",
    "transitions",
    "webhooks",
    "lineage",
    "explanations",
]


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="Tether",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH=None,
    )
    api = Api(app, spec_kwargs={"info": {"description": "Experiment tracking and model registry"}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        api.register_blueprint(module.blp, url_prefix=API_PREFIX + getattr(module, "URL_PREFIX", ""))
    Runtime.of(app).api = api
