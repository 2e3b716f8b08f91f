"""The Flask secret key: from TETHER_SECRET_KEY, else generated once into the data folder (0600)."""

from __future__ import annotations

import os
import secrets

from .config import Settings


def write_private(path: os.PathLike[str] | str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def load_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    path = data / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker won the race
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key
