"""Checks on the raw request before any parser or validator sees it, and draining of unread bodies.

- The URL (path and query) must be valid UTF-8 after percent-decoding (no invalid or overlong forms:
  werkzeug would store them with U+FFFD) and carry no NUL.
- A JSON API route takes only ``application/json`` or ``*/*+json`` bodies (415 otherwise: this also
  closes the cross-site "simple request" path), nested at most ``MAX_JSON_DEPTH`` levels (checked on
  the raw bytes without recursion, before anything parses them), parseable by a strict parser (lone
  UTF-16 surrogates refused) and free of NUL characters in any key or string (PostgreSQL text cannot
  hold them; one rule for both databases).
- ``DrainInput`` (WSGI middleware): an answer given before the body was read (a replayed batch, a
  401/403/404/409/413) first reads and discards the rest of the body, up to ``DRAIN_LIMIT`` bytes, so
  the next request on the keep-alive connection starts where it should; past the bound the answer
  says ``Connection: close`` and the server lingers reading briefly after sending it, as nginx's
  lingering close does, so the client can still read the error instead of a connection reset.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from flask import Flask, g, request

from .errors import InvalidArgument, TetherError

MAX_JSON_DEPTH = 64
DRAIN_LIMIT = 256 * 1024 * 1024
DRAIN_SECONDS = 30.0
LINGER_LIMIT = 64 * 1024 * 1024
LINGER_SECONDS = 2.0
CHUNK = 64 * 1024
API_PREFIX = "/api/"
RAW_BODY_ENDPOINTS = frozenset(
    {"artifacts.upload", "artifacts.put_part", "explanations.put_local", "mlflow_artifacts.upload"}
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON_TYPE = re.compile(r"^application/(?:[\w.!#$&^-]+\+)?json$")
_INNERMOST = re.compile(rb"\[\]|\{\}")
_RUN_OF_OPENERS = re.compile(rb"[\[{]{%d}" % (MAX_JSON_DEPTH + 1))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}"')
_PLAIN_STRING = re.compile(rb'"[^"]*"')


class UnsupportedMediaType(TetherError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


# ---------------------------------------------------------------- URL


def _check_utf8(raw: bytes, what: str) -> None:
    try:
        text = raw.decode("utf-8")  # strict: invalid bytes, overlong forms and surrogates all fail
    except UnicodeDecodeError:
        raise InvalidArgument(
            f"The request {what} is not valid UTF-8 after percent-decoding", {"field": what}
        ) from None
    if "\x00" in text:
        raise InvalidArgument(f"The request {what} contains a NUL character", {"field": what})


def check_url(environ: dict[str, Any]) -> None:
    """The path as the client sent it (RAW_URI / REQUEST_URI, which gunicorn and werkzeug provide; else
    PATH_INFO, the percent-decoded bytes as latin-1 per PEP 3333) and the query, percent-decoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = unquote_to_bytes(raw.split("?", 1)[0].encode("latin-1", "replace"))
    else:
        path = environ.get("PATH_INFO", "").encode("latin-1", "replace")
    _check_utf8(path, "path")
    query = environ.get("QUERY_STRING", "")
    if query:
        _check_utf8(unquote_to_bytes(query.replace("+", " ")), "query")


# ---------------------------------------------------------------- JSON bodies


def _structure(raw: bytes) -> bytes:
    """The brackets of ``raw`` outside strings. Escaped backslashes, then escaped quotes, are
    dropped first (every backslash in JSON starts a two-character escape, read left to right),
    then everything but quotes and brackets: the strings left are ``"..."`` holding only
    brackets, removed by a trivial pattern. Each step is a C-level pass; a regex over the whole
    body (a 10,000-row post has 100,000 strings) costs far more."""
    if b"\\" in raw:  # a memchr; replace() scans the whole body even when nothing matches
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    slim = raw.translate(None, _NOT_QUOTES_OR_BRACKETS)
    # most strings hold no bracket: drop the adjacent quote pairs first (an empty string, or the end
    # of one string and the start of the next: nothing outside a string lies between them)
    return _PLAIN_STRING.sub(b"", slim.replace(b'""', b"")).translate(None, _NOT_BRACKETS)


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit``; linear C-level scans, no recursion.

    Strings are blanked out first (they may hold brackets); then each pass removes the innermost
    ``[]``/``{}`` pairs, so a document empties in exactly ``depth`` passes."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _structure(raw)
    if _RUN_OF_OPENERS.search(brackets):
        return True
    for _ in range(limit):
        brackets, n = _INNERMOST.subn(b"", brackets)
        if not brackets or n == 0:
            return False  # emptied, or unbalanced (the parser reports that)
    return bool(brackets)


def find_nul(doc: Any) -> str | None:
    """The location (``a.b[2]``) of the first key or string holding a NUL, walking iteratively."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where or "body"
        elif isinstance(value, dict):
            for k, v in value.items():
                name = f"{where}.{k}" if where else str(k)
                if "\x00" in k:
                    return name
                stack.append((name, v))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return None


def check_json_body(raw: bytes) -> Any:
    """Check a JSON body and return it parsed."""
    if json_depth_exceeds(raw):
        raise InvalidArgument(
            f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels", {"max_depth": MAX_JSON_DEPTH}
        )
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidArgument(
            "Request body is not valid JSON (or holds a lone UTF-16 surrogate)",
            {"position": e.pos, "reason": e.msg},
        ) from None
    if b"\\u0000" in raw:
        where = find_nul(doc)
        if where is not None:
            raise InvalidArgument(f"{where}: text must not contain a NUL character", {"field": where})
    return doc


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def check_request() -> None:
    """before_request: the URL, then (JSON API routes) the body's media type, depth and text."""
    check_url(request.environ)
    if (
        request.method not in BODY_METHODS
        or request.endpoint is None
        or request.endpoint in RAW_BODY_ENDPOINTS
        or not request.path.startswith(API_PREFIX)
        or not _has_body()
    ):
        return
    if not _JSON_TYPE.match(request.mimetype or ""):
        raise UnsupportedMediaType(
            "This route takes a JSON body: send Content-Type: application/json",
            {"content_type": (request.content_type or "")[:100]},
        )
    # the parsed body, for views that read JSON themselves (parsing a 10,000-row post twice shows)
    g.json_body = check_json_body(request.get_data(cache=True))


# ---------------------------------------------------------------- draining


class _CountingInput:
    """wsgi.input that counts what the application read."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.consumed = 0

    def read(self, *args: Any) -> bytes:
        data = self.stream.read(*args)
        self.consumed += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data = self.stream.readline(*args)
        self.consumed += len(data)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines = self.stream.readlines(*args)
        self.consumed += sum(map(len, lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _Body:
    def __init__(self, environ: dict[str, Any]) -> None:
        self.input = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = self.input
        try:
            self.length: int | None = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            self.length = 0
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and environ.get("wsgi.input_terminated"):
            self.length = None  # read to the end of the dechunked stream
        self.at_end = self.length is not None and self.length <= 0

    def remaining(self) -> int:
        """Unread bytes announced by Content-Length (0 when unknown or all read)."""
        return 0 if self.at_end or self.length is None else max(0, self.length - self.input.consumed)

    def drain(self, limit: int, seconds: float) -> bool:
        """Read and discard up to ``limit`` more bytes; True when the body is now fully read."""
        if self.at_end:
            return True
        deadline, budget = time.monotonic() + seconds, limit
        try:
            while budget > 0 and time.monotonic() < deadline:
                want = CHUNK if self.length is None else min(CHUNK, self.length - self.input.consumed)
                if want <= 0:
                    break
                data = self.input.read(min(want, budget))
                if not data:
                    break
                budget -= len(data)
            else:
                return False
        except (OSError, ValueError):  # the client went away, or the server closed the input
            return False
        self.at_end = True
        return True


class DrainInput:
    """WSGI middleware: no answer leaves unread request bytes in a keep-alive connection."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _Body(environ)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if body.remaining() > DRAIN_LIMIT or not body.drain(DRAIN_LIMIT, DRAIN_SECONDS):
                headers = [(k, v) for k, v in headers if k.lower() != "connection"]
                headers.append(("Connection", "close"))
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        return result if body.at_end else _Lingering(result, body)  # keep wsgi.file_wrapper visible


class _Lingering:
    """The response iterable; on close, keeps reading a little of an unread body (lingering close)."""

    def __init__(self, result: Iterable[bytes], body: _Body) -> None:
        self.result, self.body = result, body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            self.body.drain(LINGER_LIMIT, LINGER_SECONDS)


def install(app: Flask) -> None:
    """Hook the checks in after authentication (so anonymous callers' bodies are never parsed)."""
    app.before_request(check_request)
    app.wsgi_app = DrainInput(app.wsgi_app)  # type: ignore[method-assign]
