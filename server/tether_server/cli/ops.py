"""Operations commands: ``tether db backup``, ``tether export`` and ``tether import``."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import TetherError
from . import db, load_settings, main, session_scope


@db.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
def db_backup(dest: Path) -> None:
    """Copy the SQLite database to DEST (a file, or a folder) while the server keeps running."""
    from ..services.ops.backup import backup_sqlite, sqlite_path

    try:
        src = sqlite_path(load_settings().resolved_database_url)
        size = backup_sqlite(src, dest)
    except TetherError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"backed up {src} to {dest} ({size} bytes)")


@main.command("export")
@click.option("--experiment", "experiments", multiple=True, help="an experiment to export (repeatable)")
@click.option("--model", "models", multiple=True, help="a registered model to export (repeatable)")
@click.argument("out", type=click.Path(path_type=Path))
def export(experiments: tuple[str, ...], models: tuple[str, ...], out: Path) -> None:
    """Write a self-contained bundle (JSON lines + files with sha256) of experiments and models."""
    from ..services.ops.bundle_export import export_bundle
    from ..storage import store_from_settings

    settings = load_settings()
    try:
        with session_scope(settings) as s:
            counts = export_bundle(
                s, store_from_settings(settings), out, list(experiments), list(models), _source(settings)
            )
    except TetherError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"exported to {out}: " + ", ".join(f"{n} {t}" for t, n in counts.items() if n))


@main.command("import")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_(bundle: Path) -> None:
    """Load a bundle written by `tether export` (new ids; files copied and verified; all or nothing)."""
    from ..services.ops.bundle_import import import_bundle
    from ..storage import store_from_settings

    settings = load_settings()
    try:
        with session_scope(settings) as s:
            counts = import_bundle(s, store_from_settings(settings), bundle)
    except TetherError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"imported {bundle}: " + ", ".join(f"{n} {t}" for t, n in counts.items() if n))


def _source(settings) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
