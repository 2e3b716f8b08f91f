"""The schema comes from Alembic: it applies to an empty database and matches the models."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tether_server.db import Database
from tether_server.migrate import current_revision, head_revision, is_up_to_date, upgrade
from tether_server.models import Base


def _empty_url(backend, tmp_path, request):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_pg_url")


def test_upgrade_from_empty_and_no_drift(backend, tmp_path, request):
    db = Database(_empty_url(backend, tmp_path, request))
    assert current_revision(db.engine) is None and not is_up_to_date(db.engine)
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_concurrent_upgrades_migrate_once(backend, tmp_path, request):
    url = _empty_url(backend, tmp_path, request)
    errors: list[BaseException] = []

    def go() -> None:
        d = Database(url)
        try:
            upgrade(d.engine)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            d.dispose()

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    d = Database(url)
    assert current_revision(d.engine) == head_revision()
    d.dispose()
