"""``tether monitors evaluate``: one evaluator pass (for cron, tests, or when no server runs)."""

from __future__ import annotations

import click

from . import load_settings, main


@main.group()
def monitors() -> None:
    """Production monitoring."""


@monitors.command("evaluate")
@click.option("--now", "now", type=int, default=None, help="evaluate as of this epoch-ms time (default: now)")
@click.option("--monitor", "monitor_ids", type=int, multiple=True, help="only these monitor ids")
def evaluate(now: int | None, monitor_ids: tuple[int, ...]) -> None:
    """Close due windows, recompute changed ones, open/resolve alerts, prune prediction ids; once."""
    from ..migrate import is_up_to_date
    from ..runtime import Runtime
    from ..workers.monitoring import evaluate_once

    runtime = Runtime.build(load_settings())  # builds the workers but starts none
    try:
        if not is_up_to_date(runtime.database.engine):
            raise click.ClickException("The database schema is out of date; run `tether db upgrade` first.")
        n = evaluate_once(runtime.database, now, list(monitor_ids) or None, wait=True)
    finally:
        runtime.close()
    click.echo(f"{n} window(s) evaluated")
