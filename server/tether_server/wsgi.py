"""WSGI entry point for gunicorn: ``tether_server.wsgi:app``."""

from __future__ import annotations

import gc

from .config import Settings
from .logconfig import configure_logging

_settings = Settings.from_env()
configure_logging(_settings.log_level, _settings.log_format)

from . import create_app  # noqa: E402

app = create_app(_settings)

# Everything built so far (modules, mappers, routes, schemas) lives as long as the worker: move it to
# the permanent generation so the cyclic collector stops re-scanning it in every full collection
# during requests (a full collection's cost grows with the app, not with the request).
gc.freeze()
