"""``tether webhooks deliver``: one pass over the webhook outbox (for cron or when no server runs)."""

from __future__ import annotations

import click

from . import load_settings, main


@main.group()
def webhooks() -> None:
    """Webhook outbox maintenance."""


@webhooks.command("deliver")
@click.option("--limit", default=1000, show_default=True, type=int, help="at most this many attempts")
def deliver(limit: int) -> None:
    """Deliver due webhook deliveries once (retries follow the backoff schedule) and exit."""
    from ..db import Database
    from ..migrate import is_up_to_date
    from ..services.events import webhooks as svc

    settings = load_settings()
    database = Database(settings.resolved_database_url)
    try:
        if not is_up_to_date(database.engine):
            raise click.ClickException("The database schema is out of date; run `tether db upgrade` first.")
        n = svc.deliver_due(database, settings, limit=limit)
    finally:
        database.dispose()
    click.echo(f"{n} delivery attempt(s) made")
