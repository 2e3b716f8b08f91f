from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.conftest import bearer
from tether_server.config import Settings
from tether_server.services.events import publish
from tether_server.services.events import types as ev
from tether_server.services.identity import bootstrap
from tether_server.services.identity import users as users_svc


def test_audit_rows_cannot_be_changed_or_deleted(app, db_session):
    publish(db_session, ev.UserPasswordSet(actor=None, user_id=1))
    db_session.commit()
    for stmt in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError):
            db_session.execute(text(stmt))
            db_session.flush()
        db_session.rollback()
    assert db_session.execute(text("SELECT action FROM audit_events")).scalars().all() == [
        "user.password_set"
    ]


def test_no_audit_write_routes(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def test_admin_token_env_bootstraps_first_admin(app, settings, db_session, client):
    token = "tth_" + "b" * 40
    s = Settings(**{**settings.__dict__, "admin_token": token})
    assert bootstrap.bootstrap_admin(db_session, s) is None
    db_session.commit()
    assert client.get("/api/v1/users/me", headers=bearer(token)).json["role"] == "admin"
    # only when there are no users
    assert (
        bootstrap.bootstrap_admin(
            db_session, Settings(**{**settings.__dict__, "admin_token": "tth_" + "c" * 40})
        )
        is None
    )
    assert users_svc.count_users(db_session) == 1


def test_embedded_bootstrap_writes_private_credentials(tmp_path, sqlite_template, monkeypatch):
    import shutil

    from tether_server.db import Database

    shutil.copy(sqlite_template, tmp_path / "tether.db")
    s = Settings(data_dir=str(tmp_path), credentials_file=str(tmp_path / "credentials.json")).validated()
    assert s.is_embedded
    db = Database(s.resolved_database_url)
    with db.session() as session:
        plain = bootstrap.bootstrap_admin(session, s)
        session.commit()
    assert plain and plain.startswith("tth_")
    path = bootstrap.save_credentials(["http://127.0.0.1:5055"], plain, s.resolved_credentials_file)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["servers"]["http://127.0.0.1:5055"]["token"] == plain
    with db.session() as session:
        assert bootstrap.bootstrap_admin(session, s) is None  # second start: nothing new
    db.dispose()
