"""``tether abtests evaluate``: one decision pass over the running A/B tests (for cron or tests)."""

from __future__ import annotations

import click

from . import load_settings, main, session_scope


@main.group()
def abtests() -> None:
    """A/B test maintenance."""


@abtests.command("evaluate")
@click.option("--limit", default=1000, show_default=True, type=int, help="at most this many tests")
def evaluate(limit: int) -> None:
    """Evaluate every running A/B test once, acting on new decisions (SRM, losers, winners)."""
    from ..services.abtests import evaluate_running

    with session_scope(load_settings()) as s:
        n = evaluate_running(s, limit=limit)
    click.echo(f"{n} A/B test(s) took a new decision")
