"""RequestsTransport reads the environment once per origin instead of on every request, and takes
from it what ``requests`` itself would: proxies (with ``NO_PROXY``) and the CA bundle. Checked
against ``requests``' own ``merge_environment_settings`` and with real sockets: a request for a
proxied origin reaches a local proxy, a ``NO_PROXY`` origin is reached directly."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tether._transport import RequestsTransport


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with its own name and records the request line it was sent."""

    seen: list[str]
    name: bytes

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.name)))
        self.end_headers()
        self.wfile.write(self.name)

    def log_message(self, *args: Any) -> None:
        pass


def _server(name: bytes) -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen, "name": name})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, seen


@pytest.fixture
def servers() -> Iterator[tuple[Any, list[str], Any, list[str]]]:
    proxy, via_proxy = _server(b"proxy")
    direct, direct_seen = _server(b"direct")
    yield proxy, via_proxy, direct, direct_seen
    for s in (proxy, direct):
        s.shutdown()
        s.server_close()


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(k, raising=False)
        monkeypatch.delenv(k.lower(), raising=False)


def _get(t: RequestsTransport, url: str) -> Any:
    return t.request("GET", url, headers={"Authorization": "Bearer x"}, params=None, content=None, timeout=5)


def test_settings_are_what_requests_takes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,.corp.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/company.pem")
    for url in (
        "http://tether.example:5055/api/v1/runs",
        "https://tether.example/api/v1/runs",
        "http://internal.example:5055/api/v1/runs",
        "https://tether.corp.example/api/v1/health",
    ):
        want = requests.Session().merge_environment_settings(url, {}, None, None, None)
        got = RequestsTransport()._environment(url)
        assert got == {k: want[k] for k in ("proxies", "verify", "cert")}, url
    assert (
        RequestsTransport()._environment("https://tether.example/x")["verify"] == "/etc/ssl/certs/company.pem"
    )


def test_requests_go_through_the_proxy_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch, servers: Any
) -> None:
    proxy, via_proxy, direct, direct_seen = servers
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    monkeypatch.setenv("NO_PROXY", "localhost")
    t = RequestsTransport()
    # a proxied origin: the proxy answers and was sent the absolute URI
    r = _get(t, "http://tether.invalid:5055/api/v1/health")
    assert r.content == b"proxy" and via_proxy == ["http://tether.invalid:5055/api/v1/health"]
    # NO_PROXY names the host: straight to the server
    r = _get(t, f"http://localhost:{direct.server_port}/api/v1/health")
    assert r.content == b"direct" and direct_seen == ["/api/v1/health"] and len(via_proxy) == 1


def test_the_environment_is_read_once_per_origin(monkeypatch: pytest.MonkeyPatch, servers: Any) -> None:
    proxy, via_proxy, direct, direct_seen = servers
    _clear_proxy_env(monkeypatch)
    t = RequestsTransport()
    url = f"http://127.0.0.1:{direct.server_port}/api/v1/health"
    assert _get(t, url).content == b"direct"
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")  # too late for this origin
    assert _get(t, url).content == b"direct"
    assert via_proxy == [] and len(direct_seen) == 2
    assert _get(RequestsTransport(), url).content == b"proxy"  # a new transport reads it again


def test_a_session_passed_in_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, servers: Any) -> None:
    proxy, via_proxy, direct, _ = servers
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    session = requests.Session()
    t = RequestsTransport(session)
    assert session.trust_env and t._environment("http://tether.invalid/") == {}
    assert _get(t, "http://tether.invalid:5055/api/v1/health").content == b"proxy"  # requests' own lookup
