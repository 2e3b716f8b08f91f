"""Page sizes and ids on the registry are validated: 4xx, never 500 (regressions from tests/test_api_fuzz.py).

``ListArgs.max_results`` was validated by a lambda returning False, which marshmallow 4 ignores: 0 or -1
reached the services (an empty page, or an IndexError building the next-page token when rows existed).
"""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.conftest import bearer
from tests.registry.helpers import create_model, register, request_stage, training_run


@pytest.fixture
def settings_overrides():
    return {"webhook_allowlist": "127.0.0.1/32"}


@pytest.fixture
def registry(client, auth, admin_token):
    rid = training_run(client, auth)
    create_model(client, auth, "churn")
    version = register(client, auth, "churn", rid)["version"]
    request_stage(client, auth, "churn", version, "Staging")
    admin = bearer(admin_token)
    r = client.post("/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert r.status_code == 201, r.json
    return {"version": version, "webhook": r.json["id"], "admin": admin}


@pytest.mark.parametrize("size", ["0", "-1", "1001"])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models",
        "/api/v1/models/churn/versions",
        "/api/v1/transition-requests",
        "/api/v1/webhooks/{webhook}/deliveries",
    ],
)
def test_page_size_outside_1_to_1000_is_invalid(client, registry, url, size):
    r = client.get(url.format(**registry) + f"?max_results={size}", headers=registry["admin"])
    assert "max_results" in assert_error(r, 400, "INVALID_ARGUMENT")["details"]["fields"]["query"]


def test_page_size_of_one_pages(client, auth, registry):
    request_stage(client, auth, "churn", registry["version"], "Production")  # needs a review: stays pending
    r = client.get("/api/v1/transition-requests?max_results=1", headers=registry["admin"])
    assert r.status_code == 200 and len(r.json["items"]) == 1, r.json


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("patch", f"/api/v1/webhooks/{2**63}"),
        ("get", f"/api/v1/webhooks/{2**31}/deliveries"),
        ("get", f"/api/v1/models/churn/versions/{2**31}"),
        ("post", f"/api/v1/transition-requests/{2**63}/approve"),
    ],
)
def test_huge_ids_in_the_url_are_not_found(client, registry, method, url):
    assert_error(getattr(client, method)(url, json={}, headers=registry["admin"]), 404, "NOT_FOUND")


def test_alias_version_beyond_integer_is_invalid(client, auth, registry):
    r = client.put("/api/v1/models/churn/aliases/champion", json={"version": 2**31}, headers=auth)
    assert_error(r, 400, "INVALID_ARGUMENT")
