"""Two apps in one process share nothing: each has its own Runtime (settings, database, token cache,
permission default, workers). Nothing is a module global any more."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import update

from tests.conftest import bearer
from tether_server import create_app
from tether_server.models import ApiToken, now_ms
from tether_server.runtime import Runtime
from tether_server.services.identity import users as users_svc


def _user(rt: Runtime, name: str, role: str) -> tuple[int, str]:
    with rt.database.transaction() as s:
        user = users_svc.create_user(s, None, name, role)
        token, plain = users_svc.create_token(s, None, user, "t")
        return token.id, plain


def test_two_apps_with_different_settings_do_not_affect_each_other(settings, backend):
    a = create_app(
        replace(
            settings,
            default_permission="READ",
            auth_cache_seconds=3600,
            webhook_worker=True,
            webhook_poll_seconds=60.0,
        )
    )
    b = create_app(replace(settings, default_permission="NONE", auth_cache_seconds=0, webhook_worker=False))
    ra, rb = Runtime.of(a), Runtime.of(b)
    try:
        assert ra is not rb and ra.token_cache is not rb.token_cache and ra.database is not rb.database
        ca, cb = a.test_client(), b.test_client()
        _, owner = _user(ra, "owner", "writer")
        viewer_token_id, viewer = _user(ra, "viewer", "viewer")

        # Permission default: the same viewer, the same database, two answers.
        eid = ca.post("/api/v1/experiments", json={"name": "e"}, headers=bearer(owner)).json["id"]
        seen_a = [e["id"] for e in ca.get("/api/v1/experiments", headers=bearer(viewer)).json["items"]]
        seen_b = [e["id"] for e in cb.get("/api/v1/experiments", headers=bearer(viewer)).json["items"]]
        assert seen_a == [eid] and seen_b == []
        assert cb.get(f"/api/v1/experiments/{eid}", headers=bearer(viewer)).status_code == 404

        # Token-cache lifetime: a revocation made behind both apps' backs (as another process would)
        # reaches B at once (no cache) and A only after its hour.
        with ra.database.transaction() as s:
            s.execute(update(ApiToken).where(ApiToken.id == viewer_token_id).values(revoked_at=now_ms()))
        assert ca.get("/api/v1/users/me", headers=bearer(viewer)).status_code == 200
        assert cb.get("/api/v1/users/me", headers=bearer(viewer)).status_code == 401

        # A revocation committed through B clears B's cache, not A's.
        tid, plain = _user(ra, "third", "writer")
        assert ca.get("/api/v1/users/me", headers=bearer(plain)).status_code == 200  # cached in A
        _, admin = _user(ra, "root", "admin")
        assert cb.delete(f"/api/v1/tokens/{tid}", headers=bearer(admin)).status_code == 200
        assert cb.get("/api/v1/users/me", headers=bearer(plain)).status_code == 401
        assert ca.get("/api/v1/users/me", headers=bearer(plain)).status_code == 200
        # ... while one made through A clears A's cache when it commits.
        assert ca.delete(f"/api/v1/tokens/{viewer_token_id}", headers=bearer(admin)).status_code == 200
        assert ca.get("/api/v1/users/me", headers=bearer(viewer)).status_code == 401

        # Workers: A runs a webhook worker, B none; closing B leaves A's running.
        worker = ra.workers.get("webhooks")
        assert worker is not None and worker.running and rb.workers.get("webhooks") is None
        rb.close()
        assert worker.running
    finally:
        ra.close()
        rb.close()
    assert not worker.running
