"""The error hierarchy and the single place where error handlers are registered.

Every non-2xx body is ``{"error": {"code": ..., "message": ..., "details": {...}}}``. Flask and
marshmallow are imported where a response is built, so command-line code (``tether server`` before it
starts gunicorn, the admin commands) raises these errors without loading the web stack.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import OperationalError as SAOperationalError

if TYPE_CHECKING:
    from flask import Flask, Response

logger = logging.getLogger(__name__)


class TetherError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class InvalidArgument(TetherError):
    status, code = 400, "INVALID_ARGUMENT"


class Unauthenticated(TetherError):
    status, code = 401, "UNAUTHENTICATED"


class PermissionDenied(TetherError):
    status, code = 403, "PERMISSION_DENIED"


class NotFound(TetherError):
    status, code = 404, "NOT_FOUND"


class AlreadyExists(TetherError):
    status, code = 409, "ALREADY_EXISTS"


class FailedPrecondition(TetherError):
    status, code = 409, "FAILED_PRECONDITION"


class PayloadTooLarge(TetherError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class TooManyRequests(TetherError):
    status, code = 429, "RESOURCE_EXHAUSTED"


class Unavailable(TetherError):
    status, code = 503, "UNAVAILABLE"


class InsufficientStorage(TetherError):
    status, code = 507, "INSUFFICIENT_STORAGE"


#: Seconds a client is told to wait when the database is unreachable (PostgreSQL restarts take a few).
DB_RETRY_AFTER = "2"


def is_connection_error(exc: DBAPIError) -> bool:
    """The database could not be reached or dropped the connection (as opposed to refusing a statement):
    OperationalError (connection refused, server shut down, admin shutdown) or any error SQLAlchemy
    classified as a disconnect (it then invalidates the pool's stale connections)."""
    return isinstance(exc, SAOperationalError) or bool(getattr(exc, "connection_invalidated", False))


def database_unavailable(exc: DBAPIError) -> Response:
    logger.error("database unavailable: %s", str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
    return error_response(
        503, "UNAVAILABLE", "The database is unavailable; retry later", {}, {"Retry-After": DB_RETRY_AFTER}
    )


_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "FAILED_PRECONDITION",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


#: Paths served by the MLflow translation layer (``api/mlflow``), whose errors are MLflow-shaped:
#: ``{"error_code": ..., "message": ...}`` with the code translated by ``MLFLOW_CODES``.
MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/api/3.0/mlflow/")
MLFLOW_CODES = {
    "INVALID_ARGUMENT": "INVALID_PARAMETER_VALUE",
    "NOT_FOUND": "RESOURCE_DOES_NOT_EXIST",
    "ALREADY_EXISTS": "RESOURCE_ALREADY_EXISTS",
    "FAILED_PRECONDITION": "INVALID_STATE",
    "METHOD_NOT_ALLOWED": "ENDPOINT_NOT_FOUND",
    "PAYLOAD_TOO_LARGE": "INVALID_PARAMETER_VALUE",
    "UNSUPPORTED_MEDIA_TYPE": "INVALID_PARAMETER_VALUE",
    "RESOURCE_EXHAUSTED": "REQUEST_LIMIT_EXCEEDED",
    "UNAVAILABLE": "TEMPORARILY_UNAVAILABLE",
    "INSUFFICIENT_STORAGE": "TEMPORARILY_UNAVAILABLE",
    "INTERNAL": "INTERNAL_ERROR",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    from flask import g, has_request_context, jsonify, request

    rid = g.get("request_id") if g else None
    if has_request_context() and request.path.startswith(MLFLOW_PREFIXES):
        # The MLflow-compatible routes answer in MLflow's shape: its client reads ``error_code``.
        resp = jsonify({"error_code": MLFLOW_CODES.get(code, code), "message": message})
    else:
        body: dict[str, Any] = {"code": code, "message": message, "details": details or {}}
        if rid:
            body["request_id"] = rid
        resp = jsonify({"error": body})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register_error_handlers(app: Flask) -> None:
    from flask import request
    from marshmallow import ValidationError
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(TetherError)
    def _tether(e: TetherError) -> Response:
        return error_response(e.status, e.code, e.message, e.details, e.headers)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> Response:
        return error_response(400, "INVALID_ARGUMENT", "Request validation failed", {"fields": e.messages})

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        status = e.code or 500
        code = _HTTP_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        details: dict[str, Any] = {}
        # flask-smorest / webargs attach validation messages to 422s; we answer 400 with the fields.
        messages = getattr(e, "data", {}).get("messages") if hasattr(e, "data") else None
        if messages:
            status, code = 400, "INVALID_ARGUMENT"
            details["fields"] = messages
            message = "Request validation failed"
        elif status == 400:
            message = "Malformed request (the body may not be valid JSON)"
        elif status == 413:
            message = "Request body is larger than the server accepts"
            details["max_bytes"] = app.config.get("MAX_CONTENT_LENGTH")
        else:
            message = e.description or e.name
        if status in (404, 405) and request.path.startswith(MLFLOW_PREFIXES):
            code = "ENDPOINT_NOT_FOUND"  # no such route (the client falls back on it); not a missing row
        headers = {}
        if status == 405 and e.get_response().headers.get("Allow"):
            headers["Allow"] = e.get_response().headers["Allow"]
        return error_response(status, code, message, details, headers)

    @app.errorhandler(SAOperationalError)
    def _db_down(e: SAOperationalError) -> Response:
        return database_unavailable(e)

    @app.errorhandler(IntegrityError)
    def _conflict(e: IntegrityError) -> Response:
        logger.info("integrity conflict: %s", e.orig)
        return error_response(
            409,
            "ALREADY_EXISTS",
            "The change conflicts with existing data (it may have "
            "been written concurrently); nothing was stored",
        )

    @app.errorhandler(DataError)
    def _bad_value(e: DataError) -> Response:
        # The driver refused a value the schemas let through (PostgreSQL text cannot hold a NUL character;
        # a number out of its column's range): the input is at fault, and nothing was stored.
        logger.info("value refused by the database: %s", e.orig)
        return error_response(
            400,
            "INVALID_ARGUMENT",
            "A value cannot be stored (for example a NUL character in text, or a number out of range)",
            {"reason": type(e.orig).__name__},
        )

    @app.errorhandler(DBAPIError)
    def _db_error(e: DBAPIError) -> Response:
        if is_connection_error(e):  # e.g. InterfaceError on a connection the server closed
            return database_unavailable(e)
        logger.error("database error", exc_info=e)
        return error_response(500, "INTERNAL", "Internal server error")

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "INTERNAL", "Internal server error")
