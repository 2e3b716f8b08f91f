"""WSGI entry point for gunicorn: ``tether_server.wsgi:app``."""

from __future__ import annotations

from .config import Settings
from .logconfig import configure_logging

_settings = Settings.from_env()
configure_logging(_settings.log_level, _settings.log_format)

from . import create_app  # noqa: E402

app = create_app(_settings)
