"""``tether sync [PATH]``: send what training runs spooled while the server was away."""

from __future__ import annotations

import click

from . import main


@main.command("sync")
@click.argument("path", required=False, type=click.Path(exists=True))
def sync(path: str | None) -> None:
    """Send spooled run data (a spool file, or every file in a folder; default: the SDK's spool
    folder, TETHER_SPOOL_DIR or ~/.cache/tether/spool). Sending a file twice stores it once.
    Exit 1 when the server is still away (the files are kept)."""
    from .._spool import sync as send_spooled

    result = send_spooled(path, echo=lambda m: click.echo(m, err=True))
    click.echo(
        f"synced {result.files} file(s): {result.sent} entries ({result.points} metric points) sent, "
        f"{result.failed} refused, {result.left} left for later"
    )
    if result.left:
        raise SystemExit(1)
