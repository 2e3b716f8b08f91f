"""Out-of-range ids and times on users, tokens, permissions and audit are 4xx, never 500.

Regressions found by tests/test_api_fuzz.py: integers beyond their column overflowed the database driver,
and PostgreSQL refused a NUL character in a token name (a DataError); both answered 500.
"""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.conftest import bearer

TOO_BIG_ID = 2**31
TOO_BIG_TIME = 2**63


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("post", "/api/v1/tokens", {"json": {"name": "t", "expires_at": TOO_BIG_TIME}}),
        ("post", "/api/v1/tokens", {"json": {"name": "t", "user_id": TOO_BIG_ID}}),
        ("get", f"/api/v1/tokens?user_id={TOO_BIG_ID}", {}),
        (
            "put",
            "/api/v1/permissions",
            {"json": {"user_id": TOO_BIG_ID, "resource_type": "model", "resource_id": "1", "level": "READ"}},
        ),
        ("delete", f"/api/v1/permissions?user_id={2**63}&resource_type=model&resource_id=1", {}),
        ("get", f"/api/v1/permissions?user_id={TOO_BIG_ID}", {}),
        ("get", f"/api/v1/audit?since={TOO_BIG_TIME}", {}),
    ],
)
def test_integers_outside_their_column_are_invalid(client, admin_token, method, url, kwargs):
    r = getattr(client, method)(url, headers=bearer(admin_token), **kwargs)
    assert_error(r, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("patch", f"/api/v1/users/{TOO_BIG_ID}"),
        ("get", f"/api/v1/users/{2**63}"),
        ("delete", f"/api/v1/tokens/{TOO_BIG_ID}"),
    ],
)
def test_huge_ids_in_the_url_are_not_found(client, admin_token, method, url):
    assert_error(getattr(client, method)(url, json={}, headers=bearer(admin_token)), 404, "NOT_FOUND")


def test_largest_id_still_reaches_the_service(client, admin_token):
    r = client.patch(f"/api/v1/users/{2**31 - 1}", json={}, headers=bearer(admin_token))
    assert "2147483647" in assert_error(r, 404, "NOT_FOUND")["message"]


def test_nul_in_a_token_name_is_never_a_500(client, admin_token, backend):
    # one rule on both databases: refused with the field named, and the whole request rolled back
    r = client.post(
        "/api/v1/users",
        headers=bearer(admin_token),
        json={"name": "nul", "role": "viewer", "token_name": "a\x00b"},
    )
    assert assert_error(r, 400, "INVALID_ARGUMENT")["details"]["field"] == "token_name"
    names = [u["name"] for u in client.get("/api/v1/users", headers=bearer(admin_token)).json["items"]]
    assert "nul" not in names
