"""``tether login URL`` / ``tether logout URL`` / ``tether whoami``: tokens in the credentials file.

The file is the one the SDK reads when ``TETHER_TOKEN`` is unset
(``{"servers": {"<base url>": {"token": "..."}}}``, mode 0600, written atomically).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from .._config import credentials_path, resolve_base_url, server_key
from . import main
from ._common import EXIT_CODES_HELP, emit, fail, handle_errors, info, json_option


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        fail(f"cannot read the credentials file {path}: {exc}")
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_token(token_stdin: bool) -> str:
    if token_stdin or not sys.stdin.isatty():
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("API token", hide_input=True).strip()
    if not token:
        raise click.UsageError("no token given (pipe it on stdin or type it at the prompt)")
    return token


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("url")
@click.option(
    "--token-stdin", is_flag=True, help="read the token from stdin (default when stdin is not a terminal)"
)
@click.option("--no-verify", is_flag=True, help="store the token without checking it against the server")
@json_option
@handle_errors
def login(url: str, token_stdin: bool, no_verify: bool, as_json: bool) -> None:
    """Store an API token for the server at URL in the credentials file (mode 0600).

    The token is read from stdin or a hidden prompt (never from the command line, where other users
    could see it in the process list) and checked with GET /api/v1/users/me first.
    """
    from .._client import Client

    base = resolve_base_url(url)
    token = _read_token(token_stdin)
    user: dict[str, Any] = {}
    if not no_verify:
        with Client(base, token=token, max_retries=2) as c:
            user = c.request("GET", "/users/me")
    path = credentials_path()
    data = _load(path)
    servers = data.setdefault("servers", {})
    for known in [k for k in servers if server_key(k) == server_key(base)]:
        del servers[known]
    servers[base] = {"token": token}
    _write_private(path, json.dumps(data, indent=2) + "\n")
    who = user.get("name")
    info(
        f"Logged in to {base}"
        + (f" as {who} ({user.get('role')})" if who else "")
        + f"; token saved to {path}"
    )
    emit(as_json, {"url": base, "user": who, "role": user.get("role"), "credentials_file": str(path)}, None)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("url")
@handle_errors
def logout(url: str) -> None:
    """Remove the stored token for the server at URL (the server-side token stays valid; revoke it there)."""
    base = resolve_base_url(url)
    path = credentials_path()
    data = _load(path)
    servers = data.get("servers") or {}
    gone = [k for k in servers if server_key(k) == server_key(base)]
    for k in gone:
        del servers[k]
    if gone:
        _write_private(path, json.dumps(data, indent=2) + "\n")
    info(f"Removed the token for {base}" if gone else f"No token stored for {base}")


@main.command(epilog=EXIT_CODES_HELP)
@json_option
@handle_errors
def whoami(as_json: bool) -> None:
    """Show the user the current TETHER_URL/TETHER_TOKEN (or stored token) belongs to."""
    from ._common import make_client

    with make_client() as c:
        me = c.request("GET", "/users/me")
    emit(
        as_json,
        {"url": c.base_url, "user": me.get("name"), "role": me.get("role")},
        f"{me.get('name')}\t{me.get('role')}",
    )
