"""Property-based fuzzing of every API operation: bad input never gets a 500.

The app's own OpenAPI document (``/api/v1/openapi.json``) drives schemathesis through WSGI. Each operation
is its own test item with a fresh database (so a fuzzed ``DELETE`` or a demoted admin cannot starve the
next operation), seeded with an experiment, a run, a model version, a transition request and a webhook; path
parameters take those real ids part of the time, so examples also reach the code behind the 404s.
Both valid (positive) and schema-violating (negative) requests are sent with an admin bearer token.
Every response must be below 500, and every error (4xx) body must be ``{"error": {"code", "message",
"details"}}``. Redirects and 304s are not errors and carry no body, so the shape applies from 400 up.

Every response must also conform to the published document (schemathesis's checks): its status code is
documented for the operation (errors through the ``default`` response), its content type is the
documented one, its body validates against the documented schema and its documented headers are sent.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import bearer
from tests.registry.helpers import add_dataset_input
from tether_server.runtime import Runtime

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

# per operation; derandomized, so a run is reproducible. Raise it for a deeper local search.
MAX_EXAMPLES = int(os.environ.get("TETHER_TEST_FUZZ_EXAMPLES", "20"))
SPEC_PATH = "/api/v1/openapi.json"
METHODS = ("get", "put", "post", "patch", "delete")
ROOT_HASH = "ab" * 32


def _spec_operations() -> list[tuple[str, str]]:
    """(METHOD, path) for every operation in the spec, read once at collection from a throwaway app."""
    from tether_server import create_app
    from tether_server.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(
                data_dir=tmp,
                database_url=f"sqlite:///{Path(tmp) / 'spec.db'}",
                artifact_uri=str(Path(tmp) / "artifacts"),
                secret_key="spec",
                testing=True,
                webhook_worker=False,
            ).validated()
        )
        spec = app.test_client().get(SPEC_PATH).get_json()
        Runtime.of(app).close()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m in METHODS]


OPERATIONS = _spec_operations()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # the seeded webhook points at a closed local port, so a fuzzed ping fails fast without leaving the host
    return {"webhook_timeout_seconds": 1.0, "webhook_allowlist": "127.0.0.1"}


def _ok(r: Any, what: str) -> Any:
    assert r.status_code < 300, (what, r.status_code, r.get_data(as_text=True))
    return r.get_json()


def _seed(app: Any, token: str) -> dict[str, Any]:
    """A little real data; returns real values for the path parameters that name it."""
    client, h = app.test_client(), bearer(token)
    eid = _ok(client.post("/api/v1/experiments", json={"name": "fuzz-exp"}, headers=h), "experiment")["id"]
    rid = _ok(client.post("/api/v1/runs", json={"experiment_id": eid, "name": "fuzz-run"}, headers=h), "run")[
        "id"
    ]
    _ok(
        client.post(
            f"/api/v1/runs/{rid}/batch",
            headers=h,
            json={
                "params": {"lr": "0.1"},
                "tags": {"team": "fuzz"},
                "metrics": [{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}],
            },
        ),
        "batch",
    )
    _ok(client.put(f"/api/v1/runs/{rid}/artifacts/model/weights.bin", data=b"w" * 64, headers=h), "artifact")
    dataset_version_id = add_dataset_input(app, rid, name="fuzz-data", root_hash=ROOT_HASH)
    _ok(client.post("/api/v1/models", json={"name": "fuzz-model"}, headers=h), "model")
    version = _ok(
        client.post("/api/v1/models/fuzz-model/versions", json={"run_id": rid}, headers=h), "version"
    )["version"]
    _ok(
        client.put("/api/v1/models/fuzz-model/aliases/champion", json={"version": version}, headers=h),
        "alias",
    )
    req = _ok(
        client.post(
            f"/api/v1/models/fuzz-model/versions/{version}/transition-requests",
            json={"to_stage": "Staging"},
            headers=h,
        ),
        "transition request",
    )
    hook = _ok(
        client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=h),
        "webhook",
    )
    tokens = _ok(client.get("/api/v1/tokens", headers=h), "tokens")["items"]
    me = _ok(client.get("/api/v1/users/me", headers=h), "me")
    return {
        "experiment_id": eid,
        "run_id": rid,
        "key": "loss",
        "name": "fuzz-model",
        "version": version,
        "alias": "champion",
        "stage": "Staging",
        "request_id": req["id"],
        "webhook_id": hook["id"],
        "token_id": tokens[0]["id"],
        "user_id": me["id"],
        "path": "model/weights.bin",
        "root_hash": ROOT_HASH,
        "dataset_version_id": dataset_version_id,
        "dataset_name": "fuzz-data",
    }


def _strategy(operation: Any, real: dict[str, Any]) -> Any:
    """Positive and negative cases; with real path parameters about half the time when the op has some."""
    names = {p.name for p in operation.path_parameters}
    if operation.path.startswith("/api/v1/datasets"):
        real = {**real, "name": real["dataset_name"]}
    fixed = {k: v for k, v in real.items() if k in names}
    options = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    if fixed:
        options += [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed)] * 2
    return st.one_of(options)


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.content[:500]!r}"
    case.validate_response(response, checks=CONFORMANCE)
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        pytest.fail(f"{response.status_code} with a non-JSON body for {where}: {response.content[:300]!r}")
    err = body.get("error") if isinstance(body, dict) else None
    assert isinstance(err, dict) and {"code", "message", "details"} <= set(err), (
        f"{response.status_code} with a wrong error shape for {where}: {body!r}"
    )
    assert (
        isinstance(err["code"], str) and isinstance(err["message"], str) and isinstance(err["details"], dict)
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_bad_input_never_gets_a_500_and_responses_conform(
    app: Any, users: Any, method: str, path: str
) -> None:
    _uid, token = users.create("fuzz", "admin")
    real = _seed(app, token)
    schema = schemathesis.openapi.from_wsgi(SPEC_PATH, app)
    # negative cases mutate the request, not the credentials (dropping the bearer only ever gives a 401)
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    headers = bearer(token)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=_strategy(operation, real))
    def fuzz(case: Any) -> None:
        _check(case, case.call(headers=headers))

    fuzz()
