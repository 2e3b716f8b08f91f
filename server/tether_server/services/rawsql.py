"""Plain DBAPI access on the session's own connection (same transaction) for the few hot paths
where SQLAlchemy's per-row processing dominated: metric ingest, history reads and the details
of a page of runs. Only fixed SQL text and bound parameters; never formatted values."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


@contextlib.contextmanager
def cursor(session: Session | Connection) -> Iterator[tuple[Any, str]]:
    """A DBAPI cursor and the dialect's placeholder ("?" for SQLite, "%s" for psycopg), on the
    session's connection or on a Connection of its own (``context.statement()``).

    A driver error raised while it is in use is translated as SQLAlchemy translates its own: into the
    matching ``sqlalchemy.exc.DBAPIError`` subclass (so the error handlers answer 503 + Retry-After
    for a lost connection, 409/400 for integrity/data errors, never a 500 from a raw driver class),
    and a disconnect invalidates the connection so the pool does not hand it out again."""
    conn = session.connection() if isinstance(session, Session) else session
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    dbapi_conn = conn.connection.dbapi_connection
    cur = dbapi_conn.cursor()  # type: ignore[union-attr]
    base = dialect.loaded_dbapi.Error
    try:
        yield cur, mark
    except base as exc:
        disconnect = dialect.is_disconnect(exc, dbapi_conn, cur)
        if disconnect:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, base, connection_invalidated=disconnect, dialect=dialect
        ) from exc
    finally:
        with contextlib.suppress(base):
            cur.close()


def prepared(session: Session) -> dict[str, Any]:
    """``cursor.execute`` keyword arguments that make a fixed-text statement a prepared statement of
    the connection on PostgreSQL (psycopg's ``prepare=True``; the engine turns automatic preparing
    off, see ``db.make_engine``); nothing on SQLite, whose driver caches its statements anyway."""
    return {"prepare": True} if session.get_bind().dialect.name == "postgresql" else {}


def in_list(
    session: Session, column: str, values: Sequence[Any], mark: str, uses: int = 1
) -> tuple[str, Any]:
    """``column IN (...)`` and its parameters, for a statement that tests it ``uses`` times.

    PostgreSQL: one named array parameter (``= ANY``) that every use shares, so psycopg dumps it once,
    in binary (a text array escapes each element with a regex: ~0.1 ms per dump of 100 run ids, ten
    times the binary form); the statement can then have no other (positional) placeholder. SQLite:
    placeholders, the values repeated per use."""
    if session.get_bind().dialect.name == "postgresql":
        return f"{column} = ANY(%(in_list)b)", {"in_list": list(values)}
    return f"{column} IN ({', '.join([mark] * len(values))})", list(values) * uses
