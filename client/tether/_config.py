"""Where the client points and which token it sends: arguments, then ``TETHER_*``, then the
credentials file written by ``tether server`` (``{"servers": {"<base url>": {"token": "..."}}}``)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:5055"
API_PREFIX = "/api/v1"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def resolve_base_url(base_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    url = base_url or env.get("TETHER_URL") or DEFAULT_BASE_URL
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    if "://" not in url:
        url = "http://" + url
    return url


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    custom = env.get("TETHER_CREDENTIALS_FILE")
    return Path(custom).expanduser() if custom else Path.home() / ".config" / "tether" / "credentials.json"


def server_key(url: str) -> str:
    """A canonical form of a base URL for matching: lower-case, no default port, no trailing slash,
    and ``localhost``/``127.0.0.1``/``::1`` as one host."""
    parts = urlsplit(url.strip() if "://" in url else "http://" + url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK:
        host = "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((scheme, netloc, path, "", ""))


def token_from_file(base_url: str, path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring unreadable credentials file %s: %s", path, exc)
        return None
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return None
    want = server_key(base_url)
    for url, entry in servers.items():
        if isinstance(url, str) and isinstance(entry, dict) and server_key(url) == want:
            token = entry.get("token")
            if isinstance(token, str) and token:
                return token
    return None


def resolve_token(token: str | None, base_url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``token`` argument, else ``TETHER_TOKEN``, else the credentials file entry for ``base_url``."""
    env = os.environ if environ is None else environ
    if token:
        return token
    if env.get("TETHER_TOKEN"):
        return env["TETHER_TOKEN"]
    return token_from_file(base_url, credentials_path(env))
