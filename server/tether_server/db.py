"""Engine and sessionmaker, built once per app; one session per request.

SQLite allows one writer at a time. Its own busy handler makes waiting writers sleep and poll
(1 ms up to 100 ms steps), which leaves the lock idle while they sleep and gave p95s of 150 ms
under 4 concurrent writers. So write transactions first take a queue-fair lock of our own (a
thread lock inside the process, ``flock`` on ``<db>.wlock`` across gunicorn workers; the kernel
wakes the next waiter at once), then ``BEGIN IMMEDIATE``. The lock is released right after the
COMMIT or ROLLBACK reaches SQLite. PostgreSQL needs none of this.

Services never commit. When a change must be followed by something outside the database once it is
committed (clear the token cache after a revocation, wake the webhook worker after an outbox write),
the service calls ``after_commit(session, SIGNAL)``; the app's runtime registers what each signal does
with ``Database.on_commit``. A rolled-back transaction drops its signals.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

logger = logging.getLogger(__name__)

_SIGNALS = "tether_after_commit"
_CALLBACKS = "tether_after_commit_calls"


def after_commit(session: Session, what: str | Callable[[], None]) -> None:
    """The one post-commit hook. Once this transaction commits (never after a rollback), run either
    the handlers the session's Database has for the signal ``what`` (a name: the runtime decides what
    it means, e.g. clear the token cache, wake a worker; raised twice, run once), or the callable
    ``what`` itself (work that carries data, e.g. purge a deleted version's files)."""
    if isinstance(what, str):
        session.info.setdefault(_SIGNALS, set()).add(what)
    else:
        session.info.setdefault(_CALLBACKS, []).append(what)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-16384")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


class SQLiteWriteLock:
    """Serialises SQLite write transactions across threads and processes without polling."""

    def __init__(self, db_path: str | None) -> None:
        self.path = db_path + ".wlock" if db_path else None
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._holders: set[int] = set()  # id() of DBAPI connections holding the lock

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # reopen after fork
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, dbapi_conn: Any) -> None:
        key = _raw_id(dbapi_conn)
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self._holders.add(key)

    def release(self, dbapi_conn: Any) -> None:
        key = _raw_id(dbapi_conn)
        if key not in self._holders:
            return
        self._holders.discard(key)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


def _raw_id(conn: Any) -> int:
    """SQLAlchemy hands the dialect pool proxies or raw DBAPI connections; key by the raw one."""
    return id(getattr(conn, "dbapi_connection", None) or conn)


def _install_sqlite_hooks(engine: Engine) -> None:
    lock = SQLiteWriteLock(engine.url.database if engine.url.database not in (None, "", ":memory:") else None)
    dialect = engine.dialect
    base_commit, base_rollback = dialect.do_commit, dialect.do_rollback

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("tether_write", False):
            raw = conn.connection.dbapi_connection
            lock.acquire(raw)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                lock.release(raw)
                raise
        else:
            conn.exec_driver_sql("BEGIN")

    # The parameter name matches Dialect.do_commit/do_rollback, so the replacements are type-compatible.
    def do_commit(dbapi_connection: PoolProxiedConnection) -> None:
        try:
            base_commit(dbapi_connection)
        finally:
            lock.release(dbapi_connection)

    def do_rollback(dbapi_connection: PoolProxiedConnection) -> None:
        try:
            base_rollback(dbapi_connection)
        finally:
            lock.release(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", begin)
    event.listen(engine, "close", lambda dbapi_conn, _rec: lock.release(dbapi_conn))


def compact_json(value: Any) -> str:
    """JSON columns are stored compact (the monitoring results are read back as text and spliced
    into answers), encoded by orjson: a monitoring evaluator pass spent ~15% of its CPU in the
    stdlib encoder. What orjson does not take (integers beyond 64 bits, float subclasses such as
    numpy's) goes to the stdlib encoder, with the same compact separators. Non-finite floats become
    ``null`` (PostgreSQL's json type refuses the stdlib's bare ``NaN``, which is not JSON)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"))


def _load_json(text: str | bytes) -> Any:
    """JSON columns are decoded by orjson; a value it refuses (a bare ``NaN`` that an earlier
    version stored on SQLite, an integer beyond 64 bits) by the stdlib decoder, as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", compact_json)
    kwargs.setdefault("json_deserializer", _load_json)
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs
        )
        _install_sqlite_hooks(engine)
        return engine
    # No automatic server-side prepared statements: after a few runs psycopg would prepare a search
    # and PostgreSQL would then switch to a generic plan that cannot see the filter's key and value
    # (measured: 100-150 ms instead of ~10 ms at 100,000 runs). Planning most queries costs ~0.1 ms.
    # The threshold is out of reach rather than None (which would disable preparing altogether), so
    # the few hot fixed statements can still ask for it (``tether_prepare``, see _prepared_execute).
    kwargs.setdefault("connect_args", {"prepare_threshold": 2**31 - 1})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping (a round trip on every checkout). A connection that died with the server fails
    # its request with 503 + Retry-After (errors.py), which invalidates the pool's stale
    # connections; recycling bounds their age.
    kwargs.setdefault("pool_recycle", 1800)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "do_execute", _prepared_execute)
    return engine


def _prepared_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """A statement built with ``execution_options(tether_prepare=True)`` runs as a server-side
    prepared statement of its connection (psycopg's ``prepare=True``): parsed and planned once per
    connection instead of on every execution. Only for fixed statements on hot write paths whose
    plan does not depend on the values (the guarded upsert of an A/B window post: its planning was
    about three quarters of the database's CPU per post). True: executed here."""
    if context is None or not context.execution_options.get("tether_prepare"):
        return False
    cursor.execute(statement, parameters, prepare=True)
    return True


class DriverStatement:
    """A fixed Core statement for a hot path, run with ``exec_driver_sql``: compiled once per dialect
    to the driver's SQL, its constant binds (the literals the expression holds: limits, level names,
    ``* 1000``) extracted once, so an execution skips the per-bind processing of a compiled
    statement. Measured on the guarded window post (37 binds, PostgreSQL): 0.35-0.45 ms of CPU per
    execution through ``Connection.execute``, 0.23 ms through this. Only for statements whose
    parameters need no type processing (ints, strings, None); the caller binds by name.
    ``execution_options`` apply as usual (``tether_prepare``, see ``_prepared_execute``)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self.options = dict(statement.get_execution_options())
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def _for(self, dialect: Any) -> tuple[str, dict[str, Any], tuple[str, ...] | None]:
        entry = self._compiled.get(dialect.name)
        if entry is None:
            compiled = self.statement.compile(dialect=dialect)
            values = compiled.params  # the binds' own values; a caller-bound one (``required``) is None
            constants = {
                name: values[name] for bind, name in compiled.bind_names.items() if not bind.required
            }
            order = tuple(compiled.positiontup) if compiled.positional else None
            entry = self._compiled[dialect.name] = (compiled.string, constants, order)
        return entry

    def execute(self, conn: Any, params: dict[str, Any]) -> Any:
        sql, constants, order = self._for(conn.dialect)
        values = {**constants, **params}
        bound: Any = values if order is None else tuple(values.get(name) for name in order)
        return conn.exec_driver_sql(sql, bound, execution_options=self.options)


class Database:
    """One engine per app, with a read and a write sessionmaker (same pool)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        write_engine = self.engine.execution_options(tether_write=True)
        read_engine = self.engine
        if self.dialect == "postgresql":
            # Reads (GET requests) run each statement on its own: no BEGIN/ROLLBACK round trips.
            # A 304 revalidation is then one round trip; multi-query reads see committed data
            # per statement, which the immutable registry and append-only logs make harmless.
            read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        from .services.tracking import writer  # the one metric writer, chosen here once

        self.metric_writer = writer.for_dialect(self.dialect)
        # shared by every session of this Database (session.info is a shallow copy of this dict);
        # ``caches``: per-Database caches that an area loaded on first use adds when it first needs
        # one (monitoring's reference cache, ``services.monitoring.references.cache_of``)
        self.caches: dict[str, Any] = {}
        info = {"metric_writer": self.metric_writer, "caches": self.caches}
        self._statement_engine = read_engine if self.dialect == "postgresql" else write_engine
        self.read_session = sessionmaker(bind=read_engine, expire_on_commit=False, autoflush=False, info=info)
        self.write_session = sessionmaker(
            bind=write_engine, expire_on_commit=False, autoflush=False, info=info
        )
        self._handlers: dict[str, list[Callable[[], None]]] = {}
        for maker in (self.read_session, self.write_session):
            event.listen(maker, "after_commit", self._committed)
            event.listen(maker, "after_rollback", _drop_signals)

    def session(self, write: bool = True) -> Session:
        return (self.write_session if write else self.read_session)()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Session]:
        """A unit of work of its own (workers, the CLI, steps outside a request's transaction):
        committed when the block ends normally, rolled back when it raises."""
        with self.session(write) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A Connection for one short write that commits by itself, outside any Session: on
        PostgreSQL in autocommit (no BEGIN/COMMIT round trips; the write must be one statement to
        be atomic), on SQLite inside BEGIN IMMEDIATE … COMMIT around the block (so the write lock
        is held for the block only, not until the request ends). For writes whose checks are
        folded into their statements: no ORM unit of work, and nothing else of the request may
        write in it."""
        with self._statement_engine.connect() as conn:
            if self.dialect == "postgresql":
                yield conn
            else:
                with conn.begin():
                    yield conn

    def on_commit(self, signal: str, handler: Callable[[], None]) -> None:
        """Call ``handler`` after every commit of a transaction that raised ``signal`` (see ``after_commit``)."""
        self._handlers.setdefault(signal, []).append(handler)

    def _committed(self, session: Session) -> None:
        signals = session.info.pop(_SIGNALS, None)
        calls = session.info.pop(_CALLBACKS, None)
        handlers = [(s, h) for s in signals or () for h in self._handlers.get(s, ())]
        for name, handler in handlers + [(getattr(c, "__name__", "callback"), c) for c in calls or ()]:
            try:
                handler()
            except Exception:  # noqa: BLE001  (the commit happened; a hook must not turn it into an error)
                logger.exception("after-commit handler for %s failed", name)

    def dispose(self) -> None:
        self.engine.dispose()


def _drop_signals(session: Session) -> None:
    session.info.pop(_SIGNALS, None)
    session.info.pop(_CALLBACKS, None)
