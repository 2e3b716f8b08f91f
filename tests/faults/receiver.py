"""A webhook receiver on 127.0.0.1 that deduplicates by event id (the payload's ``id``), as the README
asks receivers to, and counts what arrived twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DedupReceiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.arrivals: Counter[str] = Counter()  # event id -> times received
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(outer.delay)
                event_id = json.loads(body)["id"]
                with outer.lock:
                    outer.arrivals[event_id] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def events(self) -> set[str]:
        with self.lock:
            return set(self.arrivals)

    @property
    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.arrivals.values())

    def __enter__(self) -> DedupReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
