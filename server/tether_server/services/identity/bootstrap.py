"""First-admin bootstrap without a default password.

- ``TETHER_ADMIN_TOKEN`` set and no users: create user ``admin`` holding exactly that token.
- Embedded default (no TETHER_DATABASE_URL) and no users: create ``admin`` with a fresh token,
  returned once to be printed, and saved in the 0600 credentials file the SDK reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from ...config import Settings
from ...secrets_store import locked, write_private
from . import users

ADMIN_NAME = "admin"


def save_credentials(urls: list[str], token: str, path: Path) -> Path:
    """Add ``token`` for each URL to the 0600 credentials file (``Settings.resolved_credentials_file``)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with locked(path.with_name(path.name + ".lock")):  # two first starts: neither loses the other's entry
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                data = {}
        except (FileNotFoundError, ValueError):
            data = {}
        servers = data.setdefault("servers", {})
        for url in urls:
            servers[url.rstrip("/")] = {"token": token}
        write_private(path, json.dumps(data, indent=2) + "\n")  # atomic: readers never see half a file
    return path


def bootstrap_admin(session: Session, settings: Settings) -> str | None:
    """Create the first admin if there are no users. Returns a new plain token to print, if any."""
    if users.count_users(session) > 0:
        return None
    if settings.admin_token:
        user = users.create_user(session, None, ADMIN_NAME, "admin")
        users.create_token(session, None, user, "bootstrap (TETHER_ADMIN_TOKEN)", value=settings.admin_token)
        return None
    if not settings.is_embedded:
        return None
    user = users.create_user(session, None, ADMIN_NAME, "admin")
    _token, plain = users.create_token(session, None, user, "local admin (first start)")
    return plain
