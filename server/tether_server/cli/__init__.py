"""The ``tether`` command line (click). Commands share the services used by the API and UI."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click
from sqlalchemy.orm import Session

from .. import __version__
from ..config import ConfigError, Settings


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def session_scope(settings: Settings, check_schema: bool = True) -> Iterator[Session]:
    from ..db import Database
    from ..migrate import is_up_to_date

    db = Database(settings.resolved_database_url)
    try:
        if check_schema and not is_up_to_date(db.engine):
            raise click.ClickException("The database schema is out of date; run `tether db upgrade` first.")
        with db.transaction() as s:
            yield s
    finally:
        db.dispose()


@click.group()
def main() -> None:
    """Tether: experiment tracking and a model registry with reviewed promotions."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"tether {__version__}")


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (safe to run from several processes: one migrates, the others wait)."""
    from ..db import Database
    from ..migrate import upgrade

    settings = load_settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    try:
        rev = upgrade(database.engine, revision)
    finally:
        database.dispose()
    click.echo(f"database at revision {rev}")


@db.command("current")
def db_current() -> None:
    """Print the current and head revisions."""
    from ..db import Database
    from ..migrate import current_revision, head_revision

    database = Database(load_settings().resolved_database_url)
    try:
        click.echo(f"current: {current_revision(database.engine)}  head: {head_revision()}")
    finally:
        database.dispose()


from . import abtests, gc, monitors, ops, registry, server, teams, users  # noqa: E402,F401  (register commands)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
