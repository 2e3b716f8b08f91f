"""REST API under /api/v1 (flask-smorest: marshmallow schemas + OpenAPI 3)."""

from __future__ import annotations

import importlib
import threading
from typing import Any

import flask_smorest
import orjson
from flask import Flask, Response, g, request
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

from ..errors import InvalidArgument
from ..runtime import Runtime
from ..schemas import ErrorSchema

API_PREFIX = "/api/v1"
_UNPARSED = object()

# One module per resource; each exposes ``blp`` (a flask_smorest.Blueprint).
BLUEPRINT_MODULES = [
    "health",
    "experiments",
    "runs",
    "metrics",
    "users",
    "tokens",
    "permissions",
    "groups",
    "audit",
    "artifacts",
    "datasets",
    "models",
    "transitions",
    "webhooks",
    "lineage",
    "monitors",
    "alerts",
    "abtests",
    "explanations",
]


class Parser(FlaskParser):
    """webargs answers 422 by default; ours is 400 (the error handler shapes the body)."""

    DEFAULT_VALIDATION_STATUS = 400


_SHARED: dict[type[Schema], Schema] = {}


def shared_schema(schema: Any) -> Any:
    """The one instance of a response schema class that every route naming the class uses.

    flask-smorest makes a new instance for each ``response`` decorator that names a class, and each
    deep-copies its fields. A schema holds no per-call state, so one instance per class serves every
    route: ~0.4 MiB less per process. The OpenAPI document is the same (it names schemas by class).
    Argument schemas stay classes: flask-smorest documents them as given and webargs builds one
    when it parses."""
    if isinstance(schema, type):
        return _SHARED.get(schema) or _SHARED.setdefault(schema, schema())
    return schema


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: request validation errors are documented and answered as 400, and a
    response schema class is used through its one shared instance (``shared_schema``)."""

    ARGUMENTS_PARSER = Parser()

    def response(self, status_code: Any, schema: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().response(status_code, shared_schema(schema), *args, **kwargs)

    def alt_response(self, status_code: Any, response: Any = None, *args: Any, **kwargs: Any) -> Any:
        if "schema" in kwargs:
            kwargs["schema"] = shared_schema(kwargs["schema"])
        return super().alt_response(status_code, response, *args, **kwargs)


class Api(flask_smorest.Api):
    """Every documented error response (and the ``default`` one) is ``{"error": {code, message, details}}``.

    The OpenAPI document is built when it is first read (``/api/v1/openapi.json``, or ``spec`` in
    code), not while the app is created: ``register_blueprint`` registers the routes at once and
    queues their documentation. Building it converts every marshmallow schema and deep-copies the
    operations, a third of the app's start-up CPU, which a worker serving traffic never needs.
    """

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app: Flask, **kwargs: Any) -> None:
        self._docs_lock = threading.Lock()
        self._pending_docs: list[tuple[flask_smorest.Blueprint, str, Any]] = []
        super().__init__(app, **kwargs)

    @property  # type: ignore[override]
    def spec(self) -> Any:
        if self._pending_docs:
            with self._docs_lock:  # emptied only once complete: a reader never sees half a document
                for blp, name, parameters in self._pending_docs:
                    blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
                self._pending_docs = []
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(
        self, blp: flask_smorest.Blueprint, *, parameters: Any = None, **options: Any
    ) -> None:
        """flask-smorest's ``register_blueprint`` with the documentation step deferred (same order)."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        with self._docs_lock:
            self._pending_docs.append((blp, name, parameters))


def json_object_body() -> dict[str, Any]:
    """The request body parsed with orjson, for routes that validate it in their service; 400 unless
    it is a JSON object (an empty body is ``{}``). A body the bodyguard already parsed (every JSON
    API body it checked) is not parsed again."""
    body = g.get("json_body", _UNPARSED)
    if body is _UNPARSED:
        raw = request.get_data(cache=False)
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as e:
            raise InvalidArgument("Request body is not valid JSON", {"position": e.pos}) from None
    if not isinstance(body, dict):
        raise InvalidArgument("Request body must be a JSON object")
    return body


def json_response(body: str | bytes, status: int = 200, *, replayed: bool = False) -> Response:
    """An already-encoded JSON body; ``replayed`` marks an Idempotency-Key replay of a stored answer."""
    resp = Response(body, status=status, mimetype="application/json")
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


def raw_responses(content_type: str, *, not_modified: bool = False, ranges: bool = False) -> dict[str, Any]:
    """``@blp.doc(**raw_responses(...))`` for a route that streams bytes (nothing to dump with a schema)."""
    body = {"content": {content_type: {"schema": {"type": "string", "format": "binary"}}}}
    out: dict[str, Any] = {"200": {"description": "OK", **body}}
    if ranges:
        out["206"] = {"description": "Partial Content (a single Range)", **body}
        out["416"] = {"description": "Range Not Satisfiable (no body)"}
    if not_modified:
        out["304"] = {"description": "Not Modified (If-None-Match matched the ETag; no body)"}
    return {"responses": out}


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
