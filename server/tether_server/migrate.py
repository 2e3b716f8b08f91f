"""Schema migrations (Alembic). Only one process migrates at a time:
PostgreSQL takes an advisory lock, SQLite a file lock next to the database."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)
_PG_LOCK_ID = 727_274_001


def migrations_dir() -> Path:
    shipped = Path(__file__).resolve().parent / "_migrations"  # wheel install
    if (shipped / "env.py").is_file():
        return shipped
    return Path(__file__).resolve().parents[2] / "migrations"  # source checkout


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def for_dialect(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing the models with a ``dialect`` database: an index
    created only on other dialects (``Index(...).ddl_if(dialect=...)``, e.g. the metrics history
    index, covering on SQLite) is left out, as ``create_all`` and the migrations leave it out.
    Alembic's comparison does not read ``ddl_if`` itself."""

    def include(obj: Any, _name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        cond = getattr(obj, "_ddl_if", None) if type_ == "index" else None
        if cond is None or cond.dialect is None:
            return True
        wanted = cond.dialect if isinstance(cond.dialect, (tuple, list)) else (cond.dialect,)
        return dialect in wanted

    return include


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


@contextlib.contextmanager
def _lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_ID})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_ID})
                conn.commit()
        return
    db_path = engine.url.database
    lock_path = Path(db_path + ".migrate.lock") if db_path and db_path != ":memory:" else None
    # O_CREAT without truncation: every process locks the same inode, whoever created it
    fh = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+") if lock_path else None
    try:
        if fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
        with engine.connect() as conn:
            yield conn
    finally:
        if fh:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate to ``revision`` under the lock; a no-op when another process already did it."""
    with _lock(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        if revision == "head" and before == head_revision():
            return before
        logger.info("migrating database from %s to %s", before, revision)
        command.upgrade(alembic_config(conn), revision)
        conn.commit()
        return MigrationContext.configure(conn).get_current_revision()
