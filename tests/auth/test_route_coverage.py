"""Deny-by-default: every route declares its access policy; anonymous callers get 401."""

from __future__ import annotations

import re

from tether_server.access import policy_of
from tether_server.errors import MLFLOW_PREFIXES

PUBLIC_ALLOWED = {
    "health.health",
    "health.ready",
    "scrape.metrics",
    "health.docs",
    "health.docs_assets",
    "health.docs_init",
    "api-docs.openapi_json",
    "ui_static.asset",
    "ui_auth.login",
    "ui_auth.logout",
    "static",
}


def _sample_url(rule) -> str:
    def fill(m: re.Match) -> str:
        conv = m.group(1) or ""
        return "1" if conv.startswith("int") else "x"

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?[a-z_]+>", fill, rule.rule)


def test_every_route_declares_access(app):
    missing = [
        r.endpoint
        for r in app.url_map.iter_rules()
        if policy_of(r.endpoint, app.view_functions[r.endpoint]) is None
    ]
    assert missing == []


def test_public_routes_are_only_the_allowed_ones(app):
    public = {
        r.endpoint
        for r in app.url_map.iter_rules()
        if policy_of(r.endpoint, app.view_functions[r.endpoint]) == "public"
    }
    assert public <= PUBLIC_ALLOWED, public - PUBLIC_ALLOWED


def test_anonymous_gets_401_everywhere_else(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if policy_of(rule.endpoint, app.view_functions[rule.endpoint]) == "public":
            continue
        url = _sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, json={})
            assert resp.status_code == 401, (method, url, resp.status_code)
            if url.startswith(MLFLOW_PREFIXES):  # MLflow's error shape on its routes
                assert resp.json == {"error_code": "UNAUTHENTICATED", "message": "Authentication required"}
            else:
                assert resp.json["error"]["code"] == "UNAUTHENTICATED"
            checked += 1
    assert checked >= 20


def test_undeclared_route_is_refused(app, client, admin_token):
    app.add_url_rule("/api/v1/forgotten", "forgotten", lambda: "secret")
    resp = client.get("/api/v1/forgotten", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status_code == 403 and b"secret" not in resp.data
