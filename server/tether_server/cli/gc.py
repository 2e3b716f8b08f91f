from __future__ import annotations

import click

from . import load_settings, main, session_scope


@main.command("gc")
@click.option("--dry-run", is_flag=True, help="only report what would be removed")
@click.option(
    "--grace-minutes",
    default=60,
    show_default=True,
    help="leave objects newer than this alone (uploads in flight)",
)
@click.option("--purge-deleted-runs", is_flag=True, help="also remove objects of soft-deleted runs")
def gc(dry_run: bool, grace_minutes: int, purge_deleted_runs: bool) -> None:
    """Remove orphaned artifact objects, objects of hard-deleted runs, and stale uploads."""
    from ..services.artifacts.gc import collect
    from ..storage import store_from_settings

    settings = load_settings()
    with session_scope(settings) as s:
        rep = collect(
            s,
            store_from_settings(settings),
            grace_ms=grace_minutes * 60_000,
            dry_run=dry_run,
            purge_deleted_runs=purge_deleted_runs,
        )
    verb = "would remove" if dry_run else "removed"
    for key in rep.orphans:
        click.echo(f"orphan\t{key}")
    for key in rep.deleted_run_objects:
        click.echo(f"deleted-run\t{key}")
    for uid in rep.stale_uploads:
        click.echo(f"stale-upload\t{uid}")
    click.echo(
        f"{verb} {len(rep.orphans)} orphans, {len(rep.deleted_run_objects)} objects of deleted runs, "
        f"{len(rep.stale_uploads)} stale uploads ({rep.bytes} bytes)"
    )
