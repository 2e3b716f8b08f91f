"""The SDK's exception tree: ``TetherError`` → ``APIError`` (one subclass per server code) and
``APIConnectionError`` → ``APITimeoutError`` for failures that never got an HTTP answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "TetherError",
    "APIConnectionError",
    "APITimeoutError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "AlreadyExistsError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "UnavailableError",
    "InternalServerError",
    "ArtifactError",
    "ChecksumError",
    "error_from_response",
]


class TetherError(Exception):
    """Base class of every error the SDK raises on purpose."""


class ArtifactError(TetherError):
    """A transfer failed or its content did not verify."""


class ChecksumError(ArtifactError):
    """Downloaded bytes differ in size or sha256 from the record (an artifact or a model version's
    manifest); nothing is left at the destination."""


class APIConnectionError(TetherError):
    """The request never got an HTTP answer (DNS, refused connection, reset, TLS...)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIError(TetherError):
    """The server answered with a non-2xx status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            f"{status} {code}: {message}" + (f" (request_id={request_id})" if request_id else "")
        )
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id

    retry_after: str | None = None  # the answer's Retry-After header, if any

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.code, self.message, self.details, self.request_id))


class BadRequestError(APIError):
    """INVALID_ARGUMENT (400)."""


class AuthenticationError(APIError):
    """UNAUTHENTICATED (401): missing, invalid or expired token."""


class PermissionDeniedError(APIError):
    """PERMISSION_DENIED (403)."""


class NotFoundError(APIError):
    """NOT_FOUND (404)."""


class AlreadyExistsError(APIError):
    """ALREADY_EXISTS (409): a name is taken, or a param was already logged with another value."""


class ConflictError(APIError):
    """FAILED_PRECONDITION (409): e.g. writing to a run that is no longer RUNNING."""


class PayloadTooLargeError(APIError):
    """PAYLOAD_TOO_LARGE (413)."""


class RateLimitError(APIError):
    """RESOURCE_EXHAUSTED (429)."""


class UnavailableError(APIError):
    """UNAVAILABLE (503)."""


class InternalServerError(APIError):
    """INTERNAL (500)."""


_BY_CODE: dict[str, type[APIError]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "FAILED_PRECONDITION": ConflictError,
    "PAYLOAD_TOO_LARGE": PayloadTooLargeError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": UnavailableError,
    "INTERNAL": InternalServerError,
}

# Used when the body is not our error envelope (e.g. a proxy's HTML page).
_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    500: InternalServerError,
    503: UnavailableError,
}

_STATUS_CODE_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "FAILED_PRECONDITION",
    413: "PAYLOAD_TOO_LARGE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_from_response(
    status: int, body: bytes | str | None, headers: Mapping[str, str] | None = None
) -> APIError:
    """Build the right ``APIError`` subclass from a non-2xx status and body."""
    envelope: Any = None
    if body:
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
    err = envelope.get("error") if isinstance(envelope, dict) else None
    header_rid = _header(headers, "X-Request-Id")
    exc: APIError
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        code = err["code"]
        cls = _BY_CODE.get(code, APIError)
        details = err.get("details") if isinstance(err.get("details"), dict) else {}
        exc = cls(status, code, str(err.get("message", "")), details, err.get("request_id") or header_rid)
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        exc = _BY_STATUS.get(status, APIError)(
            status,
            _STATUS_CODE_NAMES.get(status, f"HTTP_{status}"),
            text[:500] or f"HTTP {status}",
            {},
            header_rid,
        )
    exc.retry_after = _header(headers, "Retry-After")
    return exc


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for k, v in headers.items():
        if k.lower() == lowered:
            return v
    return None
