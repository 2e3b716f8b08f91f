"""The schema comes from Alembic: it applies to an empty database and matches the models."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tether_server.db import Database
from tether_server.migrate import current_revision, for_dialect, head_revision, is_up_to_date, upgrade
from tether_server.models import load_all


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
        opts = {"compare_type": True, "include_object": for_dialect(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), load_all())
    assert diff == []
    # load_all() maps every migrated table, the lazily loaded areas' included (bundles and test
    # cleanup rely on it): an area whose models load on first use must be in models.LAZY_MODULES
    assert set(load_all().tables) == set(inspect(db.engine).get_table_names()) - {"alembic_version"}
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


def test_0005_drops_the_metrics_fk_and_downgrade_restores_it(backend, tmp_path, request):
    """Upgrading keeps every point; downgrading drops points whose run is gone, then restores the FK."""
    from alembic import command
    from sqlalchemy import text

    from tether_server.migrate import alembic_config

    db = Database(_empty_url(backend, tmp_path, request))
    upgrade(db.engine, "0004")
    with db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO experiments (name, description, lifecycle, created_at, updated_at) "
                "VALUES ('e', '', 'active', 0, 0)"
            )
        )
        c.execute(
            text(
                "INSERT INTO runs (id, experiment_id, name, status, lifecycle, start_time) "
                "VALUES ('r1', (SELECT id FROM experiments), 'n', 'RUNNING', 'active', 0)"
            )
        )
        c.execute(
            text(
                "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) "
                "VALUES ('r1', 'loss', 0, 0, 1.5, false)"
            )
        )
    upgrade(db.engine)
    assert not [fk for fk in inspect(db.engine).get_foreign_keys("metrics") if fk["referred_table"] == "runs"]
    with db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) "
                "VALUES ('gone', 'loss', 0, 0, 2.5, false)"
            )
        )
        assert c.execute(text("SELECT count(*) FROM metrics")).scalar() == 2
    with db.engine.begin() as c:
        command.downgrade(alembic_config(c), "0004")
    fks = [fk for fk in inspect(db.engine).get_foreign_keys("metrics") if fk["referred_table"] == "runs"]
    assert len(fks) == 1
    with db.engine.connect() as c:
        assert c.execute(text("SELECT run_id, value FROM metrics")).all() == [("r1", 1.5)]
    db.dispose()


def test_0012_window_json_compressed_with_lz4_and_downgrade_restores(backend, tmp_path, request):
    """PostgreSQL with lz4 (Debian's 15 has it): the window JSON columns compress with lz4 from 0012
    on, and a downgrade puts them back on the server default; SQLite has nothing to change."""
    from alembic import command
    from sqlalchemy import text

    from tether_server.migrate import alembic_config

    db = Database(_empty_url(backend, tmp_path, request))
    upgrade(db.engine)
    if backend != "postgres":
        assert current_revision(db.engine) == head_revision()
        db.dispose()
        return
    query = text(
        "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname IN ('monitor_windows', "
        "'monitor_window_results') AND a.attname IN ('summary', 'drift', 'cells', 'performance')"
    )
    with db.engine.connect() as c:
        assert c.execute(text("SHOW default_toast_compression")).scalar() == "pglz"
        assert dict(c.execute(query).all()) == {
            "monitor_windows.summary": "l",
            "monitor_window_results.summary": "l",
            "monitor_window_results.drift": "l",
            "monitor_window_results.cells": "l",
            "monitor_window_results.performance": "l",
        }
    with db.engine.begin() as c:
        command.downgrade(alembic_config(c), "0011")
    with db.engine.connect() as c:
        assert set(dict(c.execute(query).all()).values()) == {""}  # the server default again
    db.dispose()


def test_0013_sqlite_history_reads_from_a_covering_index_and_downgrade_restores(backend, tmp_path, request):
    """SQLite: from 0013 on, the history read (services.tracking.metrics._page_sql) finds every column in
    the metrics index, in (step, id) order with no sort, and returns the points written before the
    upgrade; a downgrade puts the narrow index back. PostgreSQL keeps its index throughout."""
    from alembic import command
    from sqlalchemy import text

    from tether_server.migrate import alembic_config
    from tether_server.services.tracking.metrics import _page_sql

    db = Database(_empty_url(backend, tmp_path, request))
    upgrade(db.engine, "0012")
    points = [("r1", "loss", s, 1000 + s, 1 / (s + 1)) for s in (2, 0, 1)] + [("r1", "acc", 0, 5, 0.5)]
    with db.engine.begin() as c:
        for run, key, step, ts, value in points:
            c.execute(
                text(
                    "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) "
                    "VALUES (:r, :k, :s, :t, :v, false)"
                ),
                {"r": run, "k": key, "s": step, "t": ts, "v": value},
            )

    def indexes() -> set[str]:
        return {ix["name"] for ix in inspect(db.engine).get_indexes("metrics")}

    before = indexes()
    upgrade(db.engine)
    if backend != "sqlite":
        assert indexes() == before == {"ix_metrics_run_key_step"}
        db.dispose()
        return
    assert indexes() == {"ix_metrics_run_key_step_cover"}
    sql, params = _page_sql("?", "r1", "loss", None, 10)
    with db.engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params)))
        assert "COVERING INDEX ix_metrics_run_key_step_cover" in plan and "TEMP B-TREE" not in plan, plan
        got = [tuple(r[:4]) for r in c.exec_driver_sql(sql, tuple(params))]
    assert got == [(0, 1.0, 0, 1000), (1, 0.5, 0, 1001), (2, 1 / 3, 0, 1002)]
    with db.engine.begin() as c:
        command.downgrade(alembic_config(c), "0012")
    assert indexes() == {"ix_metrics_run_key_step"}
    db.dispose()
