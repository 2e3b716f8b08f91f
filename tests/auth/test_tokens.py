from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.conftest import bearer
from tether_server.models import ApiToken, AuditEvent, now_ms


def test_token_lifecycle(client, users, db_session):
    uid, tok = users.create("alice", "writer")
    r = client.post("/api/v1/tokens", json={"name": "ci", "expires_in_days": 30}, headers=bearer(tok))
    assert r.status_code == 201
    new = r.json["token"]
    assert new.startswith("tth_") and len(new) > 40 and r.json["expires_at"] > now_ms()
    # stored only as a hash
    stored = db_session.scalars(select(ApiToken.token_hash)).all()
    assert new not in stored and all(len(h) == 64 for h in stored)
    assert client.get("/api/v1/users/me", headers=bearer(new)).json["name"] == "alice"
    listed = client.get("/api/v1/tokens", headers=bearer(tok)).json["items"]
    assert {t["name"] for t in listed} == {"test", "ci"} and all("token" not in t for t in listed)
    tid = r.json["id"]
    assert client.delete(f"/api/v1/tokens/{tid}", headers=bearer(tok)).json["revoked_at"]
    assert_error(client.get("/api/v1/users/me", headers=bearer(new)), 401, "UNAUTHENTICATED")
    db_session.rollback()  # end the read snapshot taken above
    actions = db_session.scalars(select(AuditEvent.action)).all()
    assert "token.created" in actions and "token.revoked" in actions


@pytest.mark.parametrize("settings_overrides", [{"auth_cache_seconds": 0}])  # sees the row change at once
def test_expired_token_is_401(client, users, db_session, settings_overrides):
    uid, tok = users.create("bob", "writer")
    r = client.post(
        "/api/v1/tokens", json={"name": "short", "expires_at": now_ms() + 60_000}, headers=bearer(tok)
    )
    short = r.json["token"]
    assert client.get("/api/v1/users/me", headers=bearer(short)).status_code == 200
    db_session.get(ApiToken, r.json["id"]).expires_at = now_ms() - 1
    db_session.commit()
    assert_error(client.get("/api/v1/users/me", headers=bearer(short)), 401, "UNAUTHENTICATED")


BAD_AUTH = [
    "Bearer tth_" + "A" * 43,
    "Bearer nottether",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "tth_abc",
    "Bearer tth_\u00e9\u00e9\u00e9",
    "Bearer " + "tth_" + "x" * 5000,
    "Bearer tth_ab cd",
]


@pytest.mark.parametrize("header", BAD_AUTH)
def test_bad_credentials_all_look_the_same(client, header):
    r = client.get("/api/v1/experiments", headers={"Authorization": header})
    err = assert_error(r, 401, "UNAUTHENTICATED")
    assert err["message"] in ("Invalid or expired credentials",)


def test_token_in_query_string_is_refused(client, users):
    _uid, tok = users.create("carol", "admin")
    assert_error(client.get(f"/api/v1/experiments?token={tok}"), 401, "UNAUTHENTICATED")
    assert_error(
        client.get(f"/api/v1/experiments?access_token={tok}", headers=bearer(tok)), 401, "UNAUTHENTICATED"
    )


def test_deactivated_user_is_locked_out(client, users, admin_token):
    uid, tok = users.create("dave", "writer")
    assert client.get("/api/v1/users/me", headers=bearer(tok)).status_code == 200
    r = client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=bearer(admin_token))
    assert r.status_code == 200 and r.json["active"] is False
    assert_error(client.get("/api/v1/users/me", headers=bearer(tok)), 401, "UNAUTHENTICATED")


def test_users_cannot_touch_others_tokens(client, users):
    _a, tok_a = users.create("erin", "writer")
    _b, tok_b = users.create("frank", "writer")
    tid = client.get("/api/v1/tokens", headers=bearer(tok_a)).json["items"][0]["id"]
    assert_error(client.delete(f"/api/v1/tokens/{tid}", headers=bearer(tok_b)), 404, "NOT_FOUND")
    r = client.post("/api/v1/tokens", json={"name": "x", "user_id": _a}, headers=bearer(tok_b))
    assert_error(r, 404, "NOT_FOUND")


def test_admin_creates_user_with_token(client, admin_token):
    r = client.post(
        "/api/v1/users",
        json={"name": "gina", "role": "reviewer", "token_name": "laptop"},
        headers=bearer(admin_token),
    )
    assert r.status_code == 201 and r.json["role"] == "reviewer"
    assert client.get("/api/v1/users/me", headers=bearer(r.json["token"])).json["name"] == "gina"
    assert_error(
        client.post("/api/v1/users", json={"name": "gina", "role": "viewer"}, headers=bearer(admin_token)),
        409,
        "ALREADY_EXISTS",
    )
    assert_error(
        client.post("/api/v1/users", json={"name": "h", "role": "god"}, headers=bearer(admin_token)),
        400,
        "INVALID_ARGUMENT",
    )
