"""Logging, configured once by the entry point: ``TETHER_LOG_FORMAT=json`` (one JSON object per line,
every value escaped by the JSON encoder, so nothing a caller sends can start a line of its own) or
``text`` (readable, for development; control characters are shown as escapes, never written raw).

The access line of each request carries: time, level, request_id, user_id, method, route (the URL
rule, e.g. ``/api/v1/runs/<run_id>``), path, status, duration_ms and bytes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

import orjson

FORMATS = ("json", "text")
ACCESS_FIELDS = ("request_id", "user_id", "method", "route", "path", "status", "duration_ms", "bytes")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
access_logger = logging.getLogger("tether_server.request")


def escape_text(text: str) -> str:
    """Control and line-separator characters as visible escapes (``\\n``, ``\\x00``)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _request_context() -> dict[str, Any]:
    # A process that never loaded Flask (gunicorn's master, the CLI) has no request to describe:
    # importing Flask here would cost that process its modules for nothing.
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return {}
    g = flask.g
    principal = g.get("principal")
    return {"request_id": g.get("request_id"), "user_id": getattr(principal, "id", None)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _stamp(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if hasattr(record, "request_id"):  # the access line carries its request's fields itself
            out.update({k: getattr(record, k) for k in ACCESS_FIELDS if hasattr(record, k)})
        else:
            out.update({k: v for k, v in _request_context().items() if v is not None})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _json_line(out)


def _stamp(created: float, msecs: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


def _json_line(out: dict[str, Any]) -> str:
    """``out`` as one line of ASCII JSON. orjson escapes every control character below U+0020; a
    line that is not pure ASCII (U+2028, U+0085 and friends, which some readers take for line
    ends) or that orjson cannot encode is written by the standard encoder with ``ensure_ascii``."""
    try:
        line = orjson.dumps(out, default=str).decode()
    except TypeError:  # e.g. an integer beyond 64 bits
        line = ""
    return line if line and line.isascii() else json.dumps(out, ensure_ascii=True, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        head = escape_text(super().formatMessage(self._prepared(record)))
        if record.exc_info:  # the traceback keeps its lines; its text is ours, not the caller's
            head += "\n" + self.formatException(record.exc_info)
        return head

    def _prepared(self, record: logging.LogRecord) -> logging.LogRecord:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        return record


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)


def log_request(resp: Any, duration_ms: float) -> None:
    """The one access line of a request (called from the pipeline's after_request). The record is
    made here and handed to the logger's handlers: ``Logger.info`` would also walk the stack for a
    caller the formatters never print."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    from flask import g, request

    rule = request.url_rule
    principal = g.get("principal")
    method, path, status, rid = request.method, request.path, resp.status_code, g.get("request_id")
    fields = {
        "request_id": rid,
        "user_id": getattr(principal, "id", None),
        "method": method,
        "route": rule.rule if rule is not None else None,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 1),
        "bytes": resp.calculate_content_length(),
    }
    args = (method, path, status, duration_ms, rid)
    record = access_logger.makeRecord(
        access_logger.name, logging.INFO, __file__, 0, "%s %s %s %.1fms rid=%s", args, None, extra=fields
    )
    access_logger.handle(record)


def emit(fmt: str, message: str, level: str = "INFO", **fields: Any) -> str:
    """A line for the CLI to print before logging is configured (startup banners), in ``fmt``."""
    if fmt != "json":
        return escape_text(message) if "\n" not in message else message
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    body = {"time": stamp, "level": level, "logger": "tether_server.cli", "message": message, **fields}
    return json.dumps(body, ensure_ascii=True)


try:  # gunicorn's own lines (booting, worker exits) in the same format
    from gunicorn.glogging import Logger as _GunicornLogger

    class GunicornLogger(_GunicornLogger):
        """``--logger-class``: gunicorn's error log with Tether's formatter (TETHER_LOG_FORMAT)."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            from .config import Settings

            fmt = formatter(Settings.from_env().log_format)
            for handler in self.error_log.handlers + self.access_log.handlers:
                handler.setFormatter(fmt)

except ImportError:  # pragma: no cover - gunicorn is a server dependency
    pass


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is plain (letters, digits, ``._:-``, ≤ 64), else a fresh one."""
    import secrets

    return header if header and _REQUEST_ID.fullmatch(header) else secrets.token_hex(8)
