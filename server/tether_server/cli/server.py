from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from .. import affinity
from ..config import Settings
from . import load_settings, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int, help="threads per worker")
@click.option("--migrate", is_flag=True, help="apply pending migrations before starting")
@click.option("--data-dir", default=None, help="data folder for the embedded defaults (TETHER_DATA_DIR)")
def server(host: str, port: int, workers: int, threads: int, migrate: bool, data_dir: str | None) -> None:
    """Start the server with gunicorn."""
    if data_dir:
        os.environ["TETHER_DATA_DIR"] = data_dir
    settings = load_settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    from ..db import Database
    from ..logconfig import emit
    from ..migrate import current_revision, head_revision, upgrade
    from ..secrets_store import load_secret_key
    from ..services.identity.bootstrap import bootstrap_admin, save_credentials

    database = Database(settings.resolved_database_url)
    try:
        current, head = current_revision(database.engine), head_revision()
        if current != head:
            if not migrate:
                raise click.ClickException(
                    f"The database schema is at {current or 'empty'} but this server needs {head}. "
                    "Run `tether db upgrade` (or start with --migrate)."
                )
            upgrade(database.engine)
        with database.transaction() as s:
            token = bootstrap_admin(s, settings)
    finally:
        database.dispose()
    load_secret_key(settings)  # once, in the master, before any worker forks (workers only read it)
    if token:
        urls = [f"http://{h}:{port}" for h in ({"127.0.0.1", "localhost", host} - {"0.0.0.0", "::"})]
        path = save_credentials(urls, token, settings.resolved_credentials_file)
        click.echo(
            emit(
                settings.log_format,
                "Created the local admin user 'admin'. Its API token (shown once):\n\n"
                f"    {token}\n\nSaved to {path} (mode 0600); the SDK reads it when TETHER_TOKEN is unset.\n",
            ),
            err=True,
        )
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise click.ClickException("gunicorn is not installed")
    if settings.metrics != "off":
        prepare_metrics_dir(settings, port)
    cpus = affinity.plan(settings.cpu_affinity, workers)
    os.environ[affinity.WORKER_CPUS_ENV] = affinity.format_cpus(cpus.cpus)  # empty: the hooks pin nothing
    args = [
        gunicorn,
        "--config",
        "python:tether_server.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--no-control-socket",
        "--logger-class",
        "tether_server.logconfig.GunicornLogger",
        "--graceful-timeout",
        "20",
        "--timeout",
        "600",
        "--keep-alive",
        "30",
        "tether_server.wsgi:app",
    ]
    listening = f"Tether listening on http://{host}:{port} (data: {settings.data_path})"
    click.echo(emit(settings.log_format, listening), err=True)
    click.echo(emit(settings.log_format, cpus.describe(), worker_cpus=list(cpus.cpus)), err=True)
    os.execv(gunicorn, args)


def prepare_metrics_dir(settings: Settings, port: int) -> Path:
    """The one process-wide setting: prometheus_client's multiprocess mode reads
    ``PROMETHEUS_MULTIPROC_DIR`` at import, so it is set here, before gunicorn forks the workers, and
    emptied (a previous server's values must not be summed into this one's)."""
    from ..telemetry import MULTIPROC_ENV

    path = Path(os.environ.get(MULTIPROC_ENV) or settings.data_path / "run" / f"metrics-{port}")
    path.mkdir(parents=True, exist_ok=True)
    for f in path.glob("*.db"):
        f.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path
