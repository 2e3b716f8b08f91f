"""The API fuzz test (tests/test_api_fuzz.py) with hostile text and nesting, on SQLite and PostgreSQL.

For every operation in the OpenAPI document, schemathesis draws a valid request, then Hypothesis rewrites
it: every string (body keys and values, path and query parameters) may become text with lone UTF-16
surrogates, NUL and other control characters, line separators and noncharacters; or the body (or one
of its fields) becomes a document nested hundreds to tens of thousands of levels deep. Surrogates go
out as JSON ``\\udXXX`` escapes and, in URLs, as their (invalid) UTF-8 percent-encoding. Every answer
must be below 500 with the standard error body from 400 up; the count of server errors must be 0."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import bearer
from tests.test_api_fuzz import OPERATIONS, SPEC_PATH, _seed

MAX_EXAMPLES = int(os.environ.get("TETHER_TEST_HOSTILE_EXAMPLES", "8"))
HOSTILE = ["\ud800", "\udfff", "\x00", "\x1b", "\n", "\u2028", "\ufffe", "\U0010ffff", "..", "%ff"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_timeout_seconds": 1.0, "webhook_allowlist": "127.0.0.1"}


hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.characters(codec=None), st.text(max_size=3)),
    min_size=1,
    max_size=6,
).map("".join)


def _nest(depth: int, kind: str) -> str:
    return "[" * depth + "1" + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


@st.composite
def hostile_strings(draw: Any, value: Any) -> Any:
    """``value`` with some of its strings (and keys) replaced by hostile text; iterative, no recursion."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        v = parent[key]
        if isinstance(v, str) and draw(st.booleans()):
            parent[key] = draw(hostile_text)
        elif isinstance(v, list):
            stack.extend((v, i) for i in range(len(v)))
        elif isinstance(v, dict):
            if v and draw(st.booleans()):
                k = draw(st.sampled_from(sorted(v)))
                v[draw(hostile_text)] = v.pop(k)
            stack.extend((v, k) for k in v)
    return root[0]


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)  # lone surrogates become \udXXX escapes


def _url_part(value: Any) -> str:
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


@st.composite
def hostile_request(draw: Any, operation: Any, real: dict[str, Any]) -> dict[str, Any]:
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real.items() if k in names}
    case = draw(
        st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
        )
    )
    path_params = dict(case.path_parameters or {})
    if draw(st.booleans()):
        path_params = draw(hostile_strings(path_params))
    query = draw(hostile_strings(dict(case.query or {}))) if case.query else {}
    body, data = case.body, None
    if isinstance(body, (dict, list, str)):
        how = draw(st.sampled_from(["strings", "deep", "deep-field"]))
        depth = draw(st.sampled_from([65, 300, 1_100, 20_000]))
        kind = draw(st.sampled_from(["array", "object"]))
        if how == "strings":
            data = _json_text(draw(hostile_strings(body)))
        elif how == "deep" or not isinstance(body, dict) or not body:
            data = _nest(depth, kind)
        else:
            field = draw(st.sampled_from(sorted(body)))
            data = _json_text({**body, field: None}).replace("null", _nest(depth, kind), 1)
    elif isinstance(body, bytes):
        data = body
    path = operation.path
    for k, v in path_params.items():
        path = path.replace("{" + k + "}", _url_part(v))
    qs = "&".join(f"{_url_part(k)}={_url_part(v)}" for k, v in query.items() if not isinstance(v, list))
    return {"method": operation.method.upper(), "url": path + ("?" + qs if qs else ""), "data": data}


def _check(req: dict[str, Any], response: Any) -> None:
    where = f"{req['method']} {req['url'][:300]} body={str(req['data'])[:300]!r}"
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.data[:400]!r}"
    if response.status_code < 400:
        return
    err = json.loads(response.data).get("error")
    assert isinstance(err, dict) and {"code", "message", "details"} <= set(err), where


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_hostile_text_and_nesting_never_get_a_500(app: Any, users: Any, backend: str, method: str, path: str):
    _uid, token = users.create("fuzz", "admin")
    real = _seed(app, token)
    schema = schemathesis.openapi.from_wsgi(SPEC_PATH, app)
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    client = app.test_client()
    headers = bearer(token)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(req=hostile_request(operation, real))
    def fuzz(req: dict[str, Any]) -> None:
        data = req["data"]
        ctype = "application/octet-stream" if isinstance(data, bytes) else "application/json"
        r = client.open(
            req["url"], method=req["method"], data=data, headers={**headers, "Content-Type": ctype}
        )
        _check(req, r)

    fuzz()
