"""``Database.statement()``: one write on a Connection of its own that commits when the block ends
(PostgreSQL: autocommit; SQLite: BEGIN IMMEDIATE ... COMMIT around the block), and on SQLite the
write lock is held inside the block only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tether_server.db import Database


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    with db.engine.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS statement_unit_probe"))
        c.execute(text("CREATE TABLE statement_unit_probe (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield db
    with db.engine.begin() as c:
        c.execute(text("DROP TABLE statement_unit_probe"))
    db.dispose()


def _rows(db: Database) -> list[tuple[int, str]]:
    with db.engine.connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT k, v FROM statement_unit_probe ORDER BY k"))]


def test_the_write_is_committed_when_the_block_ends(database: Database) -> None:
    with database.statement() as conn:
        conn.execute(text("INSERT INTO statement_unit_probe VALUES (1, 'a')"))
    assert _rows(database) == [(1, "a")]  # seen from another connection


def test_a_failed_statement_writes_nothing_and_the_next_block_works(database: Database) -> None:
    with database.statement() as conn:
        conn.execute(text("INSERT INTO statement_unit_probe VALUES (1, 'a')"))
    with pytest.raises(IntegrityError), database.statement() as conn:
        conn.execute(text("INSERT INTO statement_unit_probe VALUES (2, 'b'), (1, 'dup')"))
    assert _rows(database) == [(1, "a")]  # the multi-row insert is atomic on both backends
    with database.statement() as conn:  # on SQLite: the write lock was released by the rollback
        conn.execute(text("INSERT INTO statement_unit_probe VALUES (3, 'c')"))
    assert _rows(database) == [(1, "a"), (3, "c")]


def test_sqlite_holds_the_write_lock_only_inside_the_block(database: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    inside, release = threading.Event(), threading.Event()
    waited: list[float] = []

    def holder() -> None:
        with database.statement() as conn:
            conn.execute(text("INSERT INTO statement_unit_probe VALUES (1, 'a')"))
            inside.set()
            release.wait(10)

    def writer() -> None:
        t0 = time.perf_counter()
        with database.transaction() as s:  # a request's write transaction: BEGIN IMMEDIATE
            s.execute(text("INSERT INTO statement_unit_probe VALUES (2, 'b')"))
        waited.append(time.perf_counter() - t0)

    first = threading.Thread(target=holder)
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=writer)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # it waits for the lock the block holds
    release.set()
    first.join(10)
    second.join(10)
    assert not second.is_alive() and waited and waited[0] >= 0.3
    assert _rows(database) == [(1, "a"), (2, "b")]
    with database.transaction() as s:  # and nothing holds it afterwards
        s.execute(text("DELETE FROM statement_unit_probe"))
    assert _rows(database) == []
