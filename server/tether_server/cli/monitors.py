"""``tether monitors evaluate``: one evaluator pass (for cron, tests, or when no server runs)."""

from __future__ import annotations

import click

from . import load_settings, main, session_scope


@main.group()
def monitors() -> None:
    """Production monitoring."""


@monitors.command("evaluate")
@click.option("--now", "now", type=int, default=None, help="evaluate as of this epoch-ms time (default: now)")
@click.option("--monitor", "monitor_ids", type=int, multiple=True, help="only these monitor ids")
def evaluate(now: int | None, monitor_ids: tuple[int, ...]) -> None:
    """Close due windows, recompute changed ones, open/resolve alerts, prune prediction ids; once."""
    from ..models import now_ms
    from ..services.monitoring import evaluate_due

    with session_scope(load_settings()) as s:
        n = evaluate_due(s, now if now is not None else now_ms(), list(monitor_ids) or None)
    click.echo(f"{n} window(s) evaluated")
