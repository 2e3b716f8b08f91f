"""One `tether` command: the client's verbs work in a client-only environment (Flask, SQLAlchemy and
the server package unimportable), and every server admin command is reachable through it."""

from __future__ import annotations

import json
import textwrap

import click

from tests.cicd.conftest import run_tether

BLOCKED = ("flask", "sqlalchemy", "tether_server", "werkzeug", "alembic", "marshmallow", "psycopg")


def _client_only_env(tmp_path, srv, **extra):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import sys

            class _ClientOnly:
                def find_spec(self, name, path=None, target=None):
                    if name.partition(".")[0] in {BLOCKED!r}:
                        raise ImportError("not installed in a client-only image: " + name)
                    return None

            sys.meta_path.insert(0, _ClientOnly())
            """
        )
    )
    return srv.env(PYTHONPATH=str(site), **extra)


def test_client_verbs_run_without_server_packages(tether_srv, tmp_path):
    env = _client_only_env(tmp_path, tether_srv)
    r = run_tether(["--help"], env)
    assert r.returncode == 0 and "models" in r.stdout and "runs" in r.stdout
    listed = {
        line.split()[0]
        for line in r.stdout.split("Commands:")[1].splitlines()
        if line.startswith("  ") and line.strip()
    }
    assert {"runs", "models", "login"} <= listed and not listed & {"server", "db", "users", "gc"}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"weights")
    run = run_tether(["runs", "create", "--experiment", "client-only", "--json"], env)
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    steps = [
        [
            "runs",
            "log",
            run_id,
            "-m",
            "auc=0.9",
            "--artifact",
            str(tmp_path / "model"),
            "--artifact-path",
            "model",
        ],
        ["runs", "finish", run_id],
        ["models", "register", "--run", run_id, "--path", "model", "--name", "co", "--alias", "live"],
        ["models", "gate", "--name", "co", "--version", "1", "--metric", "auc", "--min", "0.5"],
        ["models", "fetch", "--name", "co", "--alias", "live", "--dst", str(tmp_path / "out")],
    ]
    for args in steps:
        r = run_tether(args, env)
        assert r.returncode == 0, (args, r.stderr)
    assert (tmp_path / "out" / "w.bin").read_bytes() == b"weights"
    r = run_tether(["server"], env)
    assert r.returncode == 2 and "No such command" in r.stderr
    probe = (
        "import sys, tether.cli, tether.cli.models, tether.cli.models_transitions, tether.cli.models_fetch, "
        "tether.cli.runs, tether.cli.auth; "
        f"bad = [m for m in sys.modules if m.partition('.')[0] in {BLOCKED!r}]; "
        "assert not bad, bad"
    )
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True).returncode == 0


def test_every_server_command_is_reachable_through_tether():
    from tether.cli import main as tether_main
    from tether_server.cli import main as server_main

    ctx = click.Context(tether_main)
    names = set(tether_main.list_commands(ctx))
    for name, cmd in server_main.commands.items():
        assert name in names, f"server command {name!r} has no tether.commands entry point in pyproject.toml"
        if name != "version":  # the client's own `version` wins
            assert tether_main.get_command(ctx, name) is cmd


def test_server_commands_work_through_the_shared_entry_point(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_DATA_DIR=str(tmp_path / "data"), TETHER_CREDENTIALS_FILE=str(tmp_path / "c.json"))
    assert run_tether(["db", "upgrade"], env).returncode == 0
    r = run_tether(["users", "create", "ops", "--role", "writer"], env)
    assert r.returncode == 0 and r.stdout.startswith("tth_")
    r = run_tether(["server", "--help"], env)
    assert r.returncode == 0 and "--migrate" in r.stdout
