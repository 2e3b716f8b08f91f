"""``db.DriverStatement`` runs a Core statement through ``exec_driver_sql`` with the statement's own
constant binds: the rows written and returned must be exactly those of ``Connection.execute`` on
both backends, whatever the parameter order (SQLite binds positionally, a name may repeat), with
NULLs, and with the statement's execution options (PostgreSQL: ``tether_prepare`` prepares it)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    insert,
    literal,
    select,
    text,
)

from tether_server.db import Database, DriverStatement

pytestmark = pytest.mark.usefixtures("backend")

meta = MetaData()
src = Table("drv_src", meta, Column("id", Integer, primary_key=True), Column("size", Integer))
dst = Table(
    "drv_dst",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("src_id", Integer),
    Column("ms", BigInteger),
    Column("label", String(50)),
    Column("note", String(50)),
)


def _statement() -> Any:
    ws = cast(bindparam("ws", type_=BigInteger), BigInteger)
    size_ms = cast(src.c.size, BigInteger) * 1000  # a constant bind
    rows = select(
        src.c.id,
        ws,
        literal("fixed"),
        bindparam("note", type_=String),  # another constant, a NULL-able one
    ).where(
        src.c.id == bindparam("sid", type_=Integer),
        size_ms > 0,
        ws % size_ms == 0,  # "ws" bound twice
    )
    stmt = insert(dst).from_select(["src_id", "ms", "label", "note"], rows)
    return stmt.returning(dst.c.src_id, dst.c.ms, dst.c.label, dst.c.note)


@pytest.fixture
def database(database_url: str) -> Any:
    d = Database(database_url)
    meta.create_all(d.engine)
    with d.engine.begin() as conn:
        conn.execute(src.insert(), [{"id": 1, "size": 60}, {"id": 2, "size": 3600}])
    yield d
    meta.drop_all(d.engine)
    d.engine.dispose()


CASES = [
    {"sid": 1, "ws": 120_000, "note": "two minutes"},
    {"sid": 1, "ws": 90_000, "note": "misaligned"},  # refused by the guard: no row
    {"sid": 2, "ws": 7_200_000, "note": None},
    {"sid": 3, "ws": 0, "note": "no such source"},
]


def test_same_rows_as_connection_execute(database: Any) -> None:
    stmt = _statement()
    driver = DriverStatement(stmt)
    for params in CASES:
        with database.engine.begin() as conn:
            expected = [tuple(r) for r in conn.execute(stmt, params).all()]
        with database.engine.begin() as conn:
            got = [tuple(r) for r in driver.execute(conn, params).all()]
        assert got == expected, params
    with database.engine.connect() as conn:
        stored = conn.execute(
            select(dst.c.src_id, dst.c.ms, dst.c.label, dst.c.note).order_by(dst.c.id)
        ).all()
    # every accepted case written twice (once per way), nothing for the refused ones
    assert [tuple(r) for r in stored] == [
        (1, 120_000, "fixed", "two minutes"),
        (1, 120_000, "fixed", "two minutes"),
        (2, 7_200_000, "fixed", None),
        (2, 7_200_000, "fixed", None),
    ]


def test_execution_options_apply(database: Any) -> None:
    driver = DriverStatement(_statement().execution_options(tether_prepare=True))
    assert driver.options.get("tether_prepare") is True
    with database.engine.begin() as conn:
        assert driver.execute(conn, CASES[0]).all()
        if database.dialect == "postgresql":  # prepared on this connection by _prepared_execute
            names = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
            assert any("drv_dst" in s for s in names), names
