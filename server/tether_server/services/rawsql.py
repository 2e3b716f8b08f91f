"""Plain DBAPI access on the session's own connection (same transaction) for the few hot paths
where SQLAlchemy's per-row processing dominated: metric ingest, history reads and the details
of a page of runs. Only fixed SQL text and bound parameters; never formatted values."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session


@contextlib.contextmanager
def cursor(session: Session) -> Iterator[tuple[Any, str]]:
    """A DBAPI cursor and the dialect's placeholder ("?" for SQLite, "%s" for psycopg)."""
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cur, mark
    finally:
        cur.close()


def in_list(session: Session, column: str, values: Sequence[Any], mark: str) -> tuple[str, list[Any]]:
    """``column IN (...)``: one array parameter on PostgreSQL (``= ANY(%s)``), placeholders on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return f"{column} = ANY({mark})", [list(values)]
    return f"{column} IN ({', '.join([mark] * len(values))})", list(values)
