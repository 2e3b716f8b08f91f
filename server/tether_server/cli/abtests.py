"""``tether abtests evaluate``: one decision pass over the running A/B tests (for cron or tests)."""

from __future__ import annotations

import click

from . import load_settings, main


@main.group()
def abtests() -> None:
    """A/B test maintenance."""


@abtests.command("evaluate")
@click.option("--limit", default=1000, show_default=True, type=int, help="at most this many tests")
def evaluate(limit: int) -> None:
    """Evaluate every running A/B test once, acting on new decisions (SRM, losers, winners)."""
    from ..db import Database
    from ..migrate import is_up_to_date
    from ..workers.abtests import evaluate_all

    database = Database(load_settings().resolved_database_url)
    try:
        if not is_up_to_date(database.engine):
            raise click.ClickException("The database schema is out of date; run `tether db upgrade` first.")
        n = evaluate_all(database, limit=limit)
    finally:
        database.dispose()
    click.echo(f"{n} running A/B test(s) evaluated")
