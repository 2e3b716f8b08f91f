from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture
def server_db_url(backend: str) -> Iterator[str]:
    """For a real ``tether server``: "" (embedded SQLite in the data folder) or an empty PostgreSQL
    database of its own (the server migrates it with --migrate)."""
    if backend == "sqlite":
        yield ""
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)
