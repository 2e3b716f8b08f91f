"""Malformed bodies and URLs get a 4xx with the standard error body on every JSON route, never a 500:
deep nesting (400), lone surrogates / NUL / invalid UTF-8 in text (400 naming the field), a non-JSON
media type (415), invalid UTF-8 or NUL in the URL (400). SQLite and PostgreSQL (``backend``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api.helpers import assert_error, new_experiment, new_run
from tests.conftest import bearer
from tether_server.bodyguard import MAX_JSON_DEPTH, RAW_BODY_ENDPOINTS, json_depth_exceeds
from tether_server.errors import MLFLOW_PREFIXES

JSON_METHODS = ("POST", "PUT", "PATCH")


def json_routes(app: Any, prefixes: tuple[str, ...] = ("/api/",)) -> list[tuple[str, str]]:
    """(method, url) for every API route under ``prefixes`` that takes a JSON body, path parameters
    filled in. The MLflow routes answer in MLflow's error shape: ``tests/mlflow`` checks them."""
    out = []
    for rule in app.url_map.iter_rules():
        if (
            not rule.rule.startswith(prefixes)
            or rule.rule.startswith(MLFLOW_PREFIXES) != (prefixes == MLFLOW_PREFIXES)
            or rule.endpoint in RAW_BODY_ENDPOINTS
        ):
            continue
        url = re.sub(r"<int:[^>]+>", "1", rule.rule)
        url = re.sub(r"<[^>]+>", "x", url)
        out += [(m, url) for m in sorted(rule.methods or ()) if m in JSON_METHODS]
    assert len(out) > (30 if prefixes == ("/api/",) else 20), out  # the whole API, not a handful
    return out


@pytest.fixture
def admin(users: Any) -> dict[str, str]:
    return bearer(users.create("root", "admin")[1])


def _send(client: Any, method: str, url: str, body: bytes, headers: dict[str, str], ctype: str) -> Any:
    return client.open(url, method=method, data=body, headers={**headers, "Content-Type": ctype})


def _deep_array(n: int) -> bytes:
    return b"[" * n + b"]" * n


def _deep_object(n: int) -> bytes:
    return b'{"a":' * n + b"1" + b"}" * n


@pytest.mark.parametrize("body", [_deep_array(50_000), _deep_object(5_000), _deep_array(MAX_JSON_DEPTH + 1)])
def test_deep_nesting_is_a_400_on_every_json_route(app, client, admin, body):
    for method, url in json_routes(app):
        r = _send(client, method, url, body, admin, "application/json")
        err = assert_error(r, 400, "INVALID_ARGUMENT")
        assert err["details"]["max_depth"] == MAX_JSON_DEPTH, (method, url)


def test_nesting_at_the_limit_reaches_the_route(client, admin):
    body = json.dumps({"name": "deep-ok", "description": "[" * 500, "x": [[[1]]]}).encode()
    r = _send(client, "POST", "/api/v1/experiments", body, admin, "application/json")
    assert "max_depth" not in assert_error(r, 400, "INVALID_ARGUMENT")["details"]  # the schema's 400


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)
def test_non_json_media_type_is_415_on_every_json_route(app, client, admin, ctype):
    for method, url in json_routes(app):
        r = _send(client, method, url, b'{"name": "x"}', admin, ctype)
        err = assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "application/json" in err["message"], (method, url)
    assert client.get("/api/v1/experiments", headers=admin).json["items"] == []


def test_json_media_types_are_accepted(client, admin):
    types = ("application/json", "application/json; charset=utf-8", "application/vnd.tether+json")
    for i, ctype in enumerate(types):
        r = _send(client, "POST", "/api/v1/experiments", json.dumps({"name": f"j{i}"}).encode(), admin, ctype)
        assert r.status_code == 201, (ctype, r.json)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "\\ud800"}', None),
        (b'{"name": "ok", "description": "a\\udfffb"}', None),
        (b'{"name": "\xff\xfe"}', None),
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"name": "n", "tags": {"k\\u0000": "v"}}', "tags.k\x00"),
    ],
)
def test_bad_text_in_a_body_is_a_400(client, admin, backend, body, field):
    r = _send(client, "POST", "/api/v1/experiments", body, admin, "application/json")
    err = assert_error(r, 400, "INVALID_ARGUMENT")
    if field:
        assert err["details"]["field"] == field
    assert client.get("/api/v1/experiments", headers=admin).json["items"] == []


def test_nul_deep_in_a_batch_names_the_field(client, admin, backend):
    rid = new_run(client, admin, new_experiment(client, admin, "nul"))
    body = {"metrics": [{"key": "m", "value": 1, "step": 0, "timestamp": 1}] * 3, "tags": {"t": "a\x00"}}
    body["metrics"] = [*body["metrics"], {"key": "m\x00", "value": 1, "step": 1, "timestamp": 1}]
    r = _send(
        client, "POST", f"/api/v1/runs/{rid}/batch", json.dumps(body).encode(), admin, "application/json"
    )
    assert assert_error(r, 400, "INVALID_ARGUMENT")["details"]["field"] in ("tags.t", "metrics[3].key")
    assert client.get(f"/api/v1/runs/{rid}", headers=admin).json["tags"] == {}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/%ff%fe",
        "/api/v1/models/a%c0%aeb",
        "/api/v1/models/%ed%a0%80",  # an encoded surrogate
        "/api/v1/models/a%00b",
        "/api/v1/experiments?name=%c0%ae",
        "/api/v1/experiments?name=a%00",
    ],
)
def test_url_that_is_not_utf8_or_has_nul_is_a_400(client, admin, backend, url):
    for method in ("GET", "DELETE"):
        assert_error(client.open(url, method=method, headers=admin), 400, "INVALID_ARGUMENT")


def _depth(doc: Any) -> int:
    deepest, stack = 0, [(doc, 0)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, d + 1)
            stack.extend((v, d + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


_text = st.text(alphabet=st.sampled_from('ab[]{}"\\ \n'), max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=60,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(doc=_json, limit=st.integers(0, 8))
def test_depth_scan_matches_the_document_depth(doc, limit):
    raw = json.dumps(doc).encode()
    assert json_depth_exceeds(raw, limit) == (_depth(doc) > limit)
