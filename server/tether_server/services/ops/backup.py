"""``tether db backup``: a consistent copy of an SQLite database while the server keeps writing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from ...errors import InvalidArgument


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise InvalidArgument(
            "tether db backup copies SQLite databases; back PostgreSQL up with pg_dump or base backups "
            "(see the README, Backups)"
        )
    return Path(url.database)


def backup_sqlite(src: Path, dest: Path) -> int:
    """Copy ``src`` to ``dest`` with SQLite's online backup API, in one step: the copy is one read
    transaction, so it is a consistent snapshot however the server writes meanwhile (WAL readers do not
    block writers). Written next to ``dest`` and renamed into place after an integrity check; returns
    the size in bytes."""
    if not src.exists():
        raise InvalidArgument(f"{src} does not exist")
    dest = dest / src.name if dest.is_dir() else dest
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(tmp)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.backup(target, pages=-1)
        target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        ok = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if ok != "ok":
        tmp.unlink(missing_ok=True)
        raise InvalidArgument(f"the backup failed its integrity check: {ok}")
    os.replace(tmp, dest)
    return dest.stat().st_size
