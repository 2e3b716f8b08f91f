"""Shared fixtures: settings, app, client, db_session, users/tokens, a live server for the SDK.

API tests run on SQLite and, when TETHER_TEST_PG_URL is set (scripts/test sets it), PostgreSQL:
the ``backend`` fixture is parametrized. On CI a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tether_server import create_app
from tether_server.config import Settings
from tether_server.db import Database
from tether_server.migrate import upgrade
from tether_server.runtime import Runtime

PG_URL = os.environ.get("TETHER_TEST_PG_URL", "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in list(os.environ):
        if k.startswith("TETHER_") and not k.startswith("TETHER_TEST_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("TETHER_CREDENTIALS_FILE", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("TETHER_SPOOL_DIR", str(tmp_path / "spool"))  # never the user's cache


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    if not PG_URL:
        yield None
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"tether_tpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _backends() -> list[Any]:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("TETHER_TEST_PG_URL is not set on CI: PostgreSQL did not start")
        pytest.skip("PostgreSQL not available (set TETHER_TEST_PG_URL)")
    return request.param


@pytest.fixture(scope="session")
def pg_worker_url(pg_template: str | None) -> Iterator[str | None]:
    """One database per test process, cloned from the migrated template; tests truncate it."""
    if not pg_template:
        yield None
        return
    url = create_pg_database(template=pg_template)
    yield url
    drop_pg_database(url)


def create_pg_database(template: str | None = None) -> str:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"tether_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    from tether_server.models import load_all

    eng = create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
        # the audit table refuses DELETE by trigger (append-only); the test owner lifts it briefly.
        # DELETE beats TRUNCATE here: the tables are tiny and TRUNCATE rewrites files.
        c.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        for table in reversed(load_all().sorted_tables):
            c.exec_driver_sql(f'DELETE FROM "{table.name}"')
        c.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")
    eng.dispose()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own (for migration tests)."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    if backend == "sqlite":
        dst = tmp_path / "tether.db"
        shutil.copy(sqlite_template, dst)
        yield f"sqlite:///{dst}"
        return
    url = request.getfixturevalue("pg_worker_url")
    _truncate_all(url)
    yield url


# ---------------------------------------------------------------- app


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        artifact_uri=str(tmp_path / "artifacts"),
        secret_key="test-secret",
        testing=True,
        **{
            "webhook_worker": False,
            "monitor_eval_seconds": 0,
            "abtest_eval_seconds": 0,
            **settings_overrides,
        },
    ).validated()


def _refuse_writes_in_reads(database: Any) -> list[str]:
    """Record every write a request makes through a read session (a GET's transaction). SQLite cannot
    upgrade a read transaction once another connection has committed, so such a write fails on a busy
    server; it belongs in ``db()`` of a writing method or in ``context.separate(write=True)``. SQLite
    only: on PostgreSQL the read session is also ``autocommit_db()``'s, whose one-statement writes are
    meant; tests' own ``db_session`` writes happen outside any request and are not counted."""
    from flask import has_request_context
    from sqlalchemy import event

    found: list[str] = []
    if database.dialect != "sqlite":
        return found

    def flush(session: Any, _ctx: Any, _instances: Any) -> None:
        changed = [*session.new, *session.dirty, *session.deleted]
        if changed and has_request_context():
            found.append(f"flush of {sorted({type(o).__name__ for o in changed})}")

    def execute(state: Any) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and has_request_context():
            found.append(f"statement {str(state.statement)[:80]}")

    event.listen(database.read_session, "before_flush", flush)
    event.listen(database.read_session, "do_orm_execute", execute)
    return found


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    application = create_app(settings)
    application.config["TETHER_ACCESS_LOG"] = False
    writes = _refuse_writes_in_reads(Runtime.of(application).database)
    yield application
    Runtime.of(application).close()
    assert not writes, f"writes through a read session: {writes}"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def db_session(app: Any) -> Iterator[Any]:
    # A read-mode session (SQLite: deferred BEGIN), so it does not hold the write lock
    # while the app serves requests; tests that write through it commit.
    with Runtime.of(app).database.session(write=False) as s:
        yield s


class Users:
    """Creates users with tokens through the services (the same code the API and CLI use)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def create(self, name: str, role: str, password: str | None = None) -> tuple[int, str]:
        from tether_server.services.identity import users as svc

        with Runtime.of(self.app).database.session() as s:
            user = svc.create_user(s, None, name, role, password)
            _t, plain = svc.create_token(s, None, user, "test")
            s.commit()
            return user.id, plain


@pytest.fixture
def users(app: Any) -> Users:
    return Users(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(users: Users) -> str:
    return users.create("root", "admin")[1]


@pytest.fixture
def writer(users: Users) -> tuple[int, str]:
    return users.create("wendy", "writer")


@pytest.fixture
def auth(writer: tuple[int, str]) -> dict[str, str]:
    """Headers for a writer (the training-script role)."""
    return bearer(writer[1])


# ---------------------------------------------------------------- live server (for the SDK)


class RequestTrail:
    """A WSGI wrapper that notes when each request reaches the app and when the app returns its answer, so
    a test that times out waiting for a page can say whether the request arrived and where it stopped."""

    def __init__(self, app: Any) -> None:
        self.app, self.events = app, collections.deque(maxlen=200)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        what = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        self.events.append((time.monotonic(), threading.current_thread().name, "start", what))
        try:
            return self.app(environ, start_response)
        finally:
            self.events.append((time.monotonic(), threading.current_thread().name, "end", what))

    def report(self) -> str:
        """The trail, then the stack of every thread but the caller's (where a stuck request waits)."""
        t0 = self.events[0][0] if self.events else 0.0
        lines = [f"{t - t0:8.3f} s  {name:<12} {kind:<5} {what}" for t, name, kind, what in self.events]
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident != threading.get_ident():
                lines.append(f"--- thread {names.get(ident, ident)}")
                lines.extend(line.rstrip() for line in traceback.format_stack(frame))
        return "\n".join(lines)


@pytest.fixture
def live_server(app: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    from werkzeug.serving import make_server

    trail = RequestTrail(app)
    srv = make_server("127.0.0.1", 0, trail, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        request.node.add_report_section("teardown", "live server requests and threads", trail.report())
    srv.shutdown()
    thread.join(5)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (``item.rep_call``) for fixtures that act on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# ---------------------------------------------------------------- where the suite's time goes

_AREA_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each phase's duration (setup, call, teardown) to its area: the folder under tests/, or
    the module for tests at the top level. A fixture's setup counts for the test that first needs it."""
    parts = report.nodeid.split("::", 1)[0].split("/")
    area = parts[1] if len(parts) > 2 else parts[-1]
    _AREA_SECONDS[area] = _AREA_SECONDS.get(area, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    total = sum(_AREA_SECONDS.values())
    if total < 60:  # a quick subset: nothing worth a table
        return
    workers = getattr(config.option, "numprocesses", None) or 0
    terminalreporter.section("time by test area")
    for area, seconds in sorted(_AREA_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {100 * seconds / total:5.1f}%  {area}")
    over = f", summed over {workers} worker processes" if workers else ""
    terminalreporter.write_line(f"{total:8.1f} s  in tests (setup, call and teardown{over})")


# Tests that share something expensive per process run in one pytest-xdist worker (scripts/test runs
# ``--dist loadgroup``): the fault tests' own PostgreSQL cluster and Ceph RGW (a session fixture), the
# kfp virtualenv that the first test needing it builds, and the wheel builds of the packaging tests
# (setuptools writes build/ and egg-info folders into the source tree). The grouping is done by the
# scheduler, by test id: pytest 9.2 names tests by ``Node._id``, so xdist 3.8's ``xdist_group`` mark
# (which appends ``@group`` to ``Node._nodeid``) no longer groups anything.
_GROUPS = (
    ("tests/faults/", "faults"),
    ("tests/cicd/test_examples.py", "kfp"),
    ("tests/test_packaging.py", "wheels"),
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None  # pytest-xdist's own scheduler for the other modes
    from xdist.scheduler import LoadGroupScheduling

    class Grouped(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in _GROUPS:
                if nodeid.startswith(prefix):
                    return group
            return super()._split_scope(nodeid)

    return Grouped(config, log)
