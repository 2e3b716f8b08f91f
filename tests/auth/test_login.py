"""Web login: scrypt only at login, CSRF on the form, throttling, cookie flags, sessions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_error
from tether_server.models import AuditEvent


def _csrf(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def alice(users):
    return users.create("alice", "reviewer", password="correct horse battery")


def test_login_sets_safe_cookie_and_session_works(client, alice):
    token = _csrf(client)
    r = client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": token}
    )
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "tether_session=" in cookie
    assert client.get("/api/v1/users/me").json["name"] == "alice"
    # state-changing API calls with the cookie need the CSRF header too
    assert_error(client.post("/api/v1/experiments", json={"name": "x"}), 403, "PERMISSION_DENIED")
    # the token rotates at login: the pre-login one no longer works
    assert_error(
        client.post("/api/v1/experiments", json={"name": "x"}, headers={"X-CSRF-Token": token}),
        403,
        "PERMISSION_DENIED",
    )
    token = _csrf(client)
    ok = client.post("/api/v1/experiments", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201
    client.post("/logout", data={"csrf_token": token})
    assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("settings_overrides", [{"session_cookie_secure": True}])
def test_secure_cookie_when_configured(client, alice, settings_overrides):
    r = client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": _csrf(client)}
    )
    assert "Secure" in r.headers["Set-Cookie"]


def test_login_form_requires_csrf(client, alice):
    client.get("/login")
    r = client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    assert_error(r, 403, "PERMISSION_DENIED")
    r = client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": "forged"}
    )
    assert r.status_code == 403
    assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHENTICATED")


def test_failed_logins_are_throttled_and_audited(client, alice, db_session):
    token = _csrf(client)
    for _ in range(5):
        r = client.post("/login", data={"username": "alice", "password": "wrong", "csrf_token": token})
        assert r.status_code == 401
    r = client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": token}
    )
    assert r.status_code == 429
    assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHENTICATED")
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == "alice")).all()
    assert actions.count("auth.login_failed") == 5


def test_successful_login_is_audited(client, alice, db_session):
    client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": _csrf(client)}
    )
    ev = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).one()
    assert ev.actor_name == "alice"


def test_role_change_ends_session(client, alice, admin_token):
    client.post(
        "/login", data={"username": "alice", "password": "correct horse battery", "csrf_token": _csrf(client)}
    )
    assert client.get("/api/v1/users/me").status_code == 200
    other = client.application.test_client()
    other.patch(
        f"/api/v1/users/{alice[0]}",
        json={"role": "viewer"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert_error(client.get("/api/v1/users/me"), 401, "UNAUTHENTICATED")


def test_open_redirect_is_refused(client, alice):
    r = client.post(
        "/login?next=//evil.example/x",
        data={"username": "alice", "password": "correct horse battery", "csrf_token": _csrf(client)},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
