"""Logs nobody can forge: under ``tether server`` (JSON by default) every line on stderr is one JSON
object, whatever control characters the path, a header or a body carry; the access line has the
request's fields. The text format escapes control characters instead of writing them."""

from __future__ import annotations

import http.client
import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from tether_server.config import ConfigError, Settings
from tether_server.logconfig import JsonFormatter, TextFormatter

from .live import tether_server

EVIL = ["%0a", "%0d", "%00", "%1b[31m", "%e2%80%a8", "%c2%85"]
ACCESS_KEYS = {"time", "level", "request_id", "user_id", "method", "route", "status", "duration_ms", "bytes"}


def _raw_request(port: int, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, target, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    status = conn.getresponse().status
    conn.close()
    return status


def test_every_log_line_is_one_json_object(tmp_path: Path, server_db_url: str) -> None:
    fake = '{"level": "INFO", "message": "admin logged in"}'
    with tether_server(tmp_path / "data", server_db_url) as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        for esc in EVIL:
            assert _raw_request(srv.port, "GET", f"/api/v1/experiments/x{esc}y", auth) in (400, 404)
            assert _raw_request(srv.port, "GET", f"/nope{esc}%0a{quote(fake, safe='')}", {}) in (400, 404)
        # control characters in header values (what an HTTP parser lets through) and in a body field
        for value in ("a\x1bb", "tab\there", "x\x7fy", "x\x85y"):
            hdrs = {**auth, "User-Agent": value, "X-Request-Id": value, "Content-Type": "application/json"}
            body = json.dumps({"name": f"n\n{fake}\r\n\x1b[2J"}).encode()
            assert _raw_request(srv.port, "POST", "/api/v1/experiments", hdrs, body) in (201, 400, 409)
        _raw_request(
            srv.port, "GET", "/api/v1/experiments?q=%0a" + "%0d" * 3, {**auth, "X-Request-Id": "ok-1"}
        )
    lines = srv.lines()
    assert len(lines) > 10
    records = []
    for line in lines:
        rec = json.loads(line)  # one complete object per line, nothing else
        assert isinstance(rec, dict) and {"time", "level", "message"} <= set(rec), line
        records.append(rec)
    access = [r for r in records if r.get("logger") == "tether_server.request"]
    # Every request the test sent that reached the app has its line: the 12 odd paths, the final GET
    # and the POSTs whose header values gunicorn let through (it answers 400 itself for an ESC or
    # DEL in a header value, logging a warning line, checked above as JSON). Health polls of the
    # start-up wait are not counted: how many there are depends on how fast the server starts.
    sent = [r for r in access if r["path"] != "/api/v1/health"]
    assert len(sent) >= 2 * len(EVIL) + 2
    assert any(r["method"] == "POST" for r in sent)
    assert all(ACCESS_KEYS <= set(r) for r in access)
    assert not any(r["message"] == "admin logged in" for r in records)
    by_path = {r["path"]: r for r in access}
    assert "/api/v1/experiments/x\ny" in by_path  # the value itself is kept, escaped by the encoder
    assert by_path["/api/v1/experiments/x\ny"]["route"] in ("/api/v1/experiments/<int:experiment_id>", None)
    tagged = [r for r in access if r["request_id"] == "ok-1"]
    assert tagged and tagged[0]["status"] == 200 and tagged[0]["user_id"] is not None
    assert not any("\x1b" in r["request_id"] for r in access)  # a caller's odd request id is replaced


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize("evil", ["a\nb", "a\rb", "a\x00b", "a\x1b[31mb", "a\u2028b", "a\x85b"])
def test_formatters_never_write_a_raw_control_character(evil: str) -> None:
    for fmt in (JsonFormatter(), TextFormatter()):
        out = fmt.format(_record("GET %s 404", evil))
        assert out.splitlines() == [out] and not any(c in out for c in "\x00\x1b\x85\u2028")
    assert json.loads(JsonFormatter().format(_record("GET %s", evil)))["message"] == f"GET {evil}"


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "json"
    assert Settings.from_env({"TETHER_LOG_FORMAT": "TEXT"}).log_format == "text"
    with pytest.raises(ConfigError, match="TETHER_LOG_FORMAT"):
        Settings.from_env({"TETHER_LOG_FORMAT": "xml"})
