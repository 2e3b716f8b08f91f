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
    from ..migrate import is_up_to_date
    from ..runtime import Runtime
    from ..workers import WebhookDeliveryWorker

    runtime = Runtime.build(load_settings())  # builds the workers but starts none
    try:
        if not is_up_to_date(runtime.database.engine):
            raise click.ClickException("The database schema is out of date; run `tether db upgrade` first.")
        n = WebhookDeliveryWorker(runtime).run_once(limit=limit)
    finally:
        runtime.close()
    click.echo(f"{n} delivery attempt(s) made")
