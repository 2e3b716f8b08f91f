"""What every pipeline verb shares: exit codes, output (--json on stdout, messages on stderr), the
client built from ``TETHER_URL``/``TETHER_TOKEN``, and retries of transient failures.

Only the client package is needed here (no Flask, no SQLAlchemy): a pipeline image installs
``tether`` alone.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    RateLimitError,
    TetherError,
    UnavailableError,
)

F = TypeVar("F", bound=Callable[..., Any])

# One meaning per code, the same for every verb.
EXIT_OK = 0
EXIT_ERROR = 1  # network, server, unexpected
EXIT_USAGE = 2  # click's own usage errors
EXIT_NO = 3  # the answer is no: gate failed, request rejected
EXIT_TIMEOUT = 4
EXIT_CANCELLED = 5

EXIT_CODES_HELP = (
    "\b\nExit codes: 0 success, 1 error (network, server, unexpected), 2 usage error,\n"
    "3 the answer is no (gate failed, request rejected), 4 timeout, 5 cancelled."
)

_SECRET = re.compile(r"tth_[A-Za-z0-9_\-]+")
_SIGNED_QUERY = re.compile(r"([?&](?:X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId|Expires)=)[^&\s\"']*")


def redact(text: str) -> str:
    """Tokens and presigned-URL signatures never reach the output, whatever an error message holds."""
    return _SIGNED_QUERY.sub(r"\1***", _SECRET.sub("tth_***", text))


class Outcome(click.ClickException):
    """A non-error verdict with its own exit code (3 no, 4 timeout, 5 cancelled)."""

    def __init__(self, code: int, message: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click reads it per instance
        self.payload = payload


class Failure(click.ClickException):
    """Exit 1 with a message on stderr."""

    exit_code = EXIT_ERROR


def info(msg: str) -> None:
    click.echo(redact(msg), err=True)


def emit(as_json: bool, payload: dict[str, Any], plain: str | None) -> None:
    """The verb's result: JSON (one object) or the plain value a shell substitution wants."""
    if as_json:
        click.echo(redact(json.dumps(payload, sort_keys=True, default=str)))
    elif plain is not None:
        click.echo(redact(plain))


def fail(msg: str) -> NoReturn:
    raise Failure(redact(msg))


json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output on stdout")


def retries_from_env() -> int:
    raw = os.environ.get("TETHER_RETRIES", "4")
    try:
        return max(0, int(raw))
    except ValueError:
        raise click.UsageError(f"TETHER_RETRIES: expected an integer, got {raw!r}") from None


def make_client(timeout: float = 60.0) -> Any:
    """A ``tether.Client`` for ``TETHER_URL`` with ``TETHER_TOKEN`` (or the credentials file)."""
    from .._client import Client

    return Client(timeout=timeout, max_retries=retries_from_env())


def _transient(exc: BaseException, *, idempotent: bool) -> bool:
    if isinstance(exc, RateLimitError | UnavailableError):
        return True  # the server refused before doing the work
    if isinstance(exc, APITimeoutError):
        return idempotent  # the call may have run: only repeat what is safe to repeat
    if isinstance(exc, APIConnectionError):
        return idempotent or "refused" in str(exc).lower() or "NewConnectionError" in str(exc)
    if isinstance(exc, APIError) and exc.status in (502, 504):
        return idempotent
    return False


def with_retries(fn: Callable[[], Any], *, idempotent: bool, attempts: int | None = None) -> Any:
    """Run ``fn`` again on transient failures (refused connections, 429/503, and for idempotent calls
    timeouts and 502/504), with jittered exponential backoff. The SDK already retries its idempotent
    calls; this adds the non-idempotent ones where no work can have happened."""
    n = retries_from_env() if attempts is None else attempts
    for attempt in range(n + 1):
        try:
            return fn()
        except TetherError as exc:
            if attempt >= n or not _transient(exc, idempotent=idempotent):
                raise
            delay = min(30.0, 0.5 * 2**attempt)
            info(f"transient error ({exc}); retrying in {delay:.1f}s ({attempt + 1}/{n})")
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
    raise AssertionError("unreachable")


def handle_errors(fn: F) -> F:
    """Turn SDK errors into exit 1 with a one-line message on stderr (never a traceback or a token)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except APIError as exc:
            detail = f" {json.dumps(exc.details, sort_keys=True)}" if exc.details else ""
            fail(f"{exc.status} {exc.code}: {exc.message}{detail}")
        except TetherError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{type(exc).__name__}: {exc}")

    return wrapper  # type: ignore[return-value]


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` or ``1h30m`` → seconds."""
    m = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
        r"(?:(\d+(?:\.\d+)?)s?)?\s*",
        text,
    )
    if not text.strip() or m is None or not any(m.groups()):
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 90s, 15m, 2h, 1h30m)")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


def key_values(items: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=what)
        out[key] = value
    return out


def read_json_file(path: str, what: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=what) from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a JSON object", param_hint=what)
    return data


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()
