"""The Flask secret key: from TETHER_SECRET_KEY, else generated once into the data folder (0600).

Generated files appear whole or not at all: the text goes to a private temporary file in the same
folder, which is then linked into place (create-once: the first writer wins, the others read the
winner's complete file) or renamed over the old one (replace). ``tether server`` creates the key in
the master before the workers fork; the workers (or a plain gunicorn) race safely all the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .config import ConfigError, Settings


def _temp_with(path: Path, text: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_private(path: os.PathLike[str] | str, text: str) -> None:
    """Replace ``path`` atomically with ``text`` (mode 0600): readers see the old file or the new one."""
    path = Path(path)
    tmp = _temp_with(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def create_private_once(path: os.PathLike[str] | str, text: str) -> str:
    """Create ``path`` with ``text`` unless it exists; returns the file's text (ours or the winner's)."""
    path = Path(path)
    tmp = _temp_with(path, text)
    try:
        os.link(tmp, path)  # fails if the file exists; never exposes a partial file
        return text
    except FileExistsError:
        return path.read_text()
    finally:
        os.unlink(tmp)


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``lock_path`` (created 0600 if missing, never truncated)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def load_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    path = data / "secret_key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = create_private_once(path, secrets.token_urlsafe(48)).strip()
    if not key:
        raise ConfigError(
            f"The secret key file {path} is empty: delete it (a new key is generated) or set TETHER_SECRET_KEY"
        )
    return key
