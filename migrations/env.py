"""Alembic environment. Run through ``tether db upgrade`` (tether_server.migrate), which passes the
engine in ``config.attributes["connection"]``; plain ``alembic`` also works with -x url=..."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tether_server.migrate import for_dialect
from tether_server.models import load_all

config = context.config
target_metadata = load_all()  # every table, the lazily loaded areas' included


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=for_dialect(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
