"""Engine and sessionmaker, built once per app; one session per request."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (BEGIN IMMEDIATE) so concurrent writers queue on
    # busy_timeout instead of failing with "database is locked" on a lock upgrade.
    write = conn.get_execution_options().get("tether_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """One engine per app, with a read and a write sessionmaker (same pool)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        write_engine = self.engine.execution_options(tether_write=True)
        self.read_session = sessionmaker(bind=self.engine, expire_on_commit=False, autoflush=False)
        self.write_session = sessionmaker(bind=write_engine, expire_on_commit=False, autoflush=False)

    def session(self, write: bool = True) -> Session:
        return (self.write_session if write else self.read_session)()

    def dispose(self) -> None:
        self.engine.dispose()
