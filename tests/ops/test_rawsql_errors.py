"""The raw-cursor hot paths (metric ingest, history reads, run details) report driver errors the way
the ORM paths do: a lost PostgreSQL connection is SQLAlchemy's OperationalError (the error handlers
answer 503 + Retry-After, not a 500 from a raw psycopg class) and the dead connection is invalidated,
so the pool does not hand it out again. Found by the PostgreSQL-restart fault test, where a binary COPY
of a metric batch hit ``AdminShutdown``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import exc, text

from tether_server.runtime import Runtime
from tether_server.services import rawsql
from tether_server.services.tracking import writer


def _kill(app: Any, pid: int) -> None:
    with Runtime.of(app).database.engine.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
        other.commit()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # terminating a backend needs PostgreSQL
def test_lost_connection_in_a_raw_cursor_is_a_wrapped_disconnect(app: Any, backend: str) -> None:
    db = Runtime.of(app).database
    with db.session() as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
        _kill(app, pid)
        rows = [("loss", i, i, 0.5, False) for i in range(100)]  # >= COPY_MIN_ROWS: the COPY path
        with pytest.raises(exc.OperationalError) as info:
            writer.of(s).write(s, "0" * 32, rows)
        assert info.value.connection_invalidated is True
        s.rollback()
    with db.session() as s:  # the pool replaced the invalidated connection
        assert s.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_other_driver_errors_keep_their_family(app: Any, backend: str) -> None:
    db = Runtime.of(app).database
    with db.session() as s, pytest.raises(exc.DBAPIError) as info:
        with rawsql.cursor(s) as (cur, _mark):
            cur.execute("SELECT no_such_column FROM runs")
    assert info.value.connection_invalidated is False
    assert isinstance(info.value, exc.ProgrammingError | exc.OperationalError)
