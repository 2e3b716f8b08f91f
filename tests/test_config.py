from __future__ import annotations

import subprocess
import sys

import pytest

from tether_server.config import ConfigError, Settings


def test_from_env_parses_types():
    s = Settings.from_env(
        {
            "TETHER_S3_SECURE": "false",
            "TETHER_MAX_BATCH_METRICS": "500",
            "TETHER_WEBHOOK_POLL_SECONDS": "0.25",
            "TETHER_DEFAULT_PERMISSION": "read",
        }
    )
    assert s.s3_secure is False and s.max_batch_metrics == 500 and s.webhook_poll_seconds == 0.25
    assert s.default_permission == "READ"


@pytest.mark.parametrize(
    "env",
    [
        {"TETHER_S3_SECURE": "maybe"},
        {"TETHER_MAX_BATCH_METRICS": "lots"},
        {"TETHER_WEBHOOK_POLL_SECONDS": "x"},
        {"TETHER_DEFAULT_PERMISSION": "ADMIN"},
        {"TETHER_DATABASE_URL": "mysql://x"},
        {"TETHER_MAX_BATCH_METRICS": "0"},
    ],
)
def test_bad_values_fail_fast_with_the_variable_name(env):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env)
    assert "TETHER_" in str(e.value)


def test_embedded_defaults(tmp_path):
    s = Settings.from_env({"TETHER_DATA_DIR": str(tmp_path)})
    assert s.is_embedded and s.resolved_database_url == f"sqlite:///{tmp_path}/tether.db"
    assert s.resolved_artifact_uri == f"{tmp_path}/artifacts"


@pytest.mark.parametrize("command", [["db", "upgrade"], ["server", "--port", "1"]])
def test_missing_optional_driver_is_one_line(monkeypatch, command):
    """A PostgreSQL URL without psycopg installed: one line naming what to install, no traceback."""
    from click.testing import CliRunner

    from tether_server.cli import main

    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` raise ImportError
    monkeypatch.setenv("TETHER_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x")
    out = CliRunner().invoke(main, command)
    assert out.exit_code == 1
    assert out.output == (
        "Error: TETHER_DATABASE_URL needs the Python package 'psycopg', which is not installed: "
        "pip install 'tether-server[postgres]'\n"
    )


def test_reading_settings_does_not_import_the_driver():
    """gunicorn's master reads the settings (for the log format) and never opens a connection: the
    driver check looks the package up without importing it (psycopg alone is ~12 MiB of RSS)."""
    code = (
        "import sys; from tether_server.config import Settings; "
        "s = Settings.from_env({'TETHER_DATABASE_URL': 'postgresql://u@127.0.0.1:1/x'}); "
        "assert s.resolved_database_url.startswith('postgresql+psycopg://'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'sqlalchemy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
