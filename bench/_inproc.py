"""What the in-process measurements (``hot_cpu``, ``prof_hot``, ``write_costs``) share: a migrated
database of their own, an app on it without background workers, and users with tokens.

The Flask test client has no HTTP in the way, so CPU time and statement counts per request can be
read off one process even on a loaded host. ``tether_server`` is imported when these are called,
so a module can also be pointed at an older checkout with ``PYTHONPATH``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def new_database(pg_url: str | None) -> str:
    """A new, migrated database: on the PostgreSQL server of ``pg_url`` (another database of the
    same cluster, named ``tether_bench_<random>``), or an SQLite file in a new temporary folder."""
    from tether_server.db import Database
    from tether_server.migrate import upgrade

    if pg_url:
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        name = f"tether_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='tether-bench-')}/tether.db"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    return url


def drop_database(url: str) -> None:
    """Remove what ``new_database`` made (PostgreSQL: with its connections; SQLite: its folder)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        shutil.rmtree(Path(parsed.database or "").parent, ignore_errors=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_database(pg_url: str | None) -> Iterator[str]:
    """``new_database`` for the length of a ``with`` block, dropped afterwards."""
    url = new_database(pg_url)
    try:
        yield url
    finally:
        drop_database(url)


def make_app(
    url: str, data_dir: str | Path | None = None, *, access_log: bool = False, **settings: Any
) -> Any:
    """An app on ``url`` with no background workers (webhooks, monitor and A/B evaluation), so
    only the measured requests use the process. ``access_log=True`` keeps the per-request access
    line that a real server writes; by default it is off."""
    from tether_server import create_app
    from tether_server.config import Settings

    data = Path(data_dir or tempfile.mkdtemp(prefix="tether-bench-"))
    app = create_app(
        Settings(
            data_dir=str(data),
            database_url=url,
            artifact_uri=str(data / "artifacts"),
            secret_key="bench",
            webhook_worker=False,
            monitor_eval_seconds=0,
            abtest_eval_seconds=0,
            **settings,
        ).validated()
    )
    if not access_log:
        app.config["TETHER_ACCESS_LOG"] = False
    return app


def new_user(app: Any, role: str, name: str | None = None) -> tuple[int, str]:
    """A user of ``role`` with an API token: (id, token)."""
    from tether_server.runtime import Runtime
    from tether_server.services.identity import users as svc

    with Runtime.of(app).database.session() as s:
        user = svc.create_user(s, None, name or f"bench-{role}-{uuid.uuid4().hex[:6]}", role, None)
        _t, plain = svc.create_token(s, None, user, "bench")
        s.commit()
        return user.id, plain
