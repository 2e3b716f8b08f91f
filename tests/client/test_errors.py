from __future__ import annotations

import pickle

import pytest

import tether
from tether.errors import error_from_response

from .fakes import FakeTransport, error, reply

CASES = [
    ("INVALID_ARGUMENT", 400, tether.BadRequestError),
    ("UNAUTHENTICATED", 401, tether.AuthenticationError),
    ("PERMISSION_DENIED", 403, tether.PermissionDeniedError),
    ("NOT_FOUND", 404, tether.NotFoundError),
    ("ALREADY_EXISTS", 409, tether.AlreadyExistsError),
    ("FAILED_PRECONDITION", 409, tether.ConflictError),
    ("PAYLOAD_TOO_LARGE", 413, tether.PayloadTooLargeError),
    ("RESOURCE_EXHAUSTED", 429, tether.RateLimitError),
    ("UNAVAILABLE", 503, tether.UnavailableError),
    ("INTERNAL", 500, tether.InternalServerError),
]


@pytest.mark.parametrize(("code", "status", "cls"), CASES)
def test_codes_map_to_classes(code: str, status: int, cls: type[tether.APIError]) -> None:
    client = tether.Client(
        "http://x",
        token="t",
        transport=FakeTransport(lambda c: error(status, code, "msg", a=1)),
        max_retries=0,
    )
    with pytest.raises(cls) as info:
        client.experiments.get(1)
    e = info.value
    assert type(e) is cls and isinstance(e, tether.APIError) and isinstance(e, tether.TetherError)
    assert (e.status, e.code, e.message, e.details, e.request_id) == (status, code, "msg", {"a": 1}, "rid-1")


def test_unknown_code_is_plain_api_error() -> None:
    e = error_from_response(418, b'{"error": {"code": "TEAPOT", "message": "no"}}')
    assert type(e) is tether.APIError and e.code == "TEAPOT" and e.status == 418


def test_non_envelope_body_falls_back_to_status() -> None:
    e = error_from_response(502, b"<html>bad gateway</html>", {"x-request-id": "abc"})
    assert (
        type(e) is tether.APIError
        and e.status == 502
        and "bad gateway" in e.message
        and e.request_id == "abc"
    )
    assert type(error_from_response(404, b"")) is tether.NotFoundError


def test_hierarchy_and_pickle() -> None:
    assert issubclass(tether.APITimeoutError, tether.APIConnectionError)
    assert issubclass(tether.APIConnectionError, tether.TetherError)
    assert not issubclass(tether.APIConnectionError, tether.APIError)
    e = pickle.loads(pickle.dumps(tether.NotFoundError(404, "NOT_FOUND", "gone", {"id": 1}, "r")))
    assert type(e) is tether.NotFoundError and e.details == {"id": 1} and e.request_id == "r"


def test_invalid_json_success_body() -> None:
    from tether import HTTPResponse

    client = tether.Client(
        "http://x", token="t", transport=FakeTransport(lambda c: HTTPResponse(200, b"nope"))
    )
    with pytest.raises(tether.APIError):
        client.runs.get("r1")
    assert reply(204).content == b""
