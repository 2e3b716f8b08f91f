"""A small threaded HTTP reverse proxy for tests: serves ``/prefix/...`` from an upstream, either
passing the path through (like an ingress with TETHER_PUBLIC_URL) or stripping the prefix and
sending ``X-Forwarded-Prefix`` (like a classic nginx location), adds ``X-Forwarded-For/-Proto/-Host``,
and can answer the first N matching requests with 503 itself (a flaky hop)."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReverseProxy:
    def __init__(
        self,
        upstream: str,
        prefix: str = "/tether",
        *,
        port: int = 0,
        strip: bool = False,
        forwarded_proto: str = "http",
        forwarded_host: str | None = None,
    ) -> None:
        self.upstream = upstream.split("://", 1)[1].rstrip("/")
        self.prefix, self.strip = prefix, strip
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, path suffix) -> 503s still to send
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes | None:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else None

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _proxy(self) -> None:
                body = self._body()
                outer.seen.append((self.command, self.path))
                if not (self.path == outer.prefix or self.path.startswith(outer.prefix + "/")):
                    return self._send(404, [("Content-Type", "text/plain")], b"not under the prefix")
                for (method, suffix), left in outer.fail_next.items():
                    if left and method == self.command and self.path.split("?")[0].endswith(suffix):
                        outer.fail_next[(method, suffix)] = left - 1
                        return self._send(503, [("Retry-After", "0")], b"proxy: upstream busy")
                path = self.path[len(outer.prefix) :] or "/" if outer.strip else self.path
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["Host"] = outer.upstream
                headers["X-Forwarded-For"] = self.client_address[0]
                headers["X-Forwarded-Proto"] = forwarded_proto
                headers["X-Forwarded-Host"] = forwarded_host or self.headers.get("Host", "")
                if outer.strip:
                    headers["X-Forwarded-Prefix"] = outer.prefix
                conn = http.client.HTTPConnection(outer.upstream, timeout=60)
                try:
                    conn.request(self.command, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP | {"content-length"}]
                    self._send(resp.status, kept, data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _proxy  # noqa: N815

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{prefix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
