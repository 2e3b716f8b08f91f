"""A fake transport and a tiny in-memory imitation of the tracking API, enough for SDK unit tests."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from tether import Client, HTTPResponse

Handler = Callable[["Call"], HTTPResponse]


@dataclass
class Call:
    method: str
    url: str
    path: str  # relative to /api/v1, still quoted
    headers: dict[str, str]
    params: dict[str, Any]
    body: Any

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


def reply(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> HTTPResponse:
    content = b"" if body is None else json.dumps(body).encode()
    return HTTPResponse(status, content, dict(headers or {}))


def error(status: int, code: str, message: str = "boom", **details: Any) -> HTTPResponse:
    return reply(
        status, {"error": {"code": code, "message": message, "details": details, "request_id": "rid-1"}}
    )


class FakeTransport:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[Call] = []
        self.closed = False
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, Any] | None,
        content: bytes | None,
        timeout: float,
    ) -> HTTPResponse:
        path = urlsplit(url).path
        assert path.startswith("/api/v1"), url
        call = Call(
            method,
            url,
            path[len("/api/v1") :],
            dict(headers),
            dict(params or {}),
            json.loads(content) if content else None,
        )
        with self._lock:
            self.calls.append(call)
        return self.handler(call)

    def close(self) -> None:
        self.closed = True


class FakeServer:
    """Experiments, runs and batches in memory; ``fail`` lets a test inject answers first."""

    def __init__(self) -> None:
        self.experiments: dict[int, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.points: list[dict[str, Any]] = []
        self.batches: list[dict[str, Any]] = []
        self.keys: dict[str, HTTPResponse] = {}
        self.fail: list[Callable[[Call], HTTPResponse | None]] = []
        self.lock = threading.Lock()

    def client(self, **kw: Any) -> tuple[Client, FakeTransport]:
        t = FakeTransport(self.handle)
        c = Client("http://tether.test", token="tth_test", transport=t, **kw)
        c._sleep = lambda s: None
        return c, t

    def handle(self, call: Call) -> HTTPResponse:
        with self.lock:
            for hook in list(self.fail):
                r = hook(call)
                if r is not None:
                    return r
            return self._route(call)

    def _route(self, call: Call) -> HTTPResponse:
        m, p = call.method, call.path
        if m == "POST" and p == "/experiments":
            return self._create_experiment(call.body)
        if m == "GET" and p == "/experiments":
            items = [e for e in self.experiments.values() if e["name"] == call.params.get("name")]
            return reply(200, {"items": items, "next_page_token": None})
        if mt := re.fullmatch(r"/experiments/(\d+)", p):
            e = self.experiments.get(int(mt[1]))
            return reply(200, e) if e else error(404, "NOT_FOUND")
        if m == "POST" and p == "/runs":
            return self._create_run(call.body)
        if mt := re.fullmatch(r"/runs/([^/]+)/batch", p):
            return self._batch(unquote(mt[1]), call)
        if mt := re.fullmatch(r"/runs/([^/]+)", p):
            run = self.runs.get(unquote(mt[1]))
            if run is None:
                return error(404, "NOT_FOUND")
            if m == "PATCH":
                run.update(call.body)
            return reply(200, run)
        return error(404, "NOT_FOUND", f"no route {m} {p}")

    def _create_experiment(self, body: dict[str, Any]) -> HTTPResponse:
        if any(e["name"] == body["name"] for e in self.experiments.values()):
            return error(409, "ALREADY_EXISTS")
        eid = len(self.experiments) + 1
        self.experiments[eid] = {
            "id": eid,
            "name": body["name"],
            "description": body.get("description"),
            "lifecycle": "active",
            "tags": body.get("tags", {}),
            "created_at": 1,
            "updated_at": 1,
            "created_by": "me",
            "future_field": [1, 2],
        }
        return reply(201, self.experiments[eid])

    def _create_run(self, body: dict[str, Any]) -> HTTPResponse:
        rid = f"r{len(self.runs) + 1}"
        self.runs[rid] = {
            "id": rid,
            "experiment_id": body["experiment_id"],
            "name": body.get("name"),
            "status": "RUNNING",
            "lifecycle": "active",
            "start_time": 1,
            "end_time": None,
            "parent_run_id": body.get("parent_run_id"),
            "created_by": "me",
            "params": {},
            "tags": dict(body.get("tags") or {}),
            "metrics": {},
        }
        return reply(201, self.runs[rid])

    def _batch(self, run_id: str, call: Call) -> HTTPResponse:
        key = call.idempotency_key
        if key in self.keys:
            return self.keys[key]
        run = self.runs.get(run_id)
        if run is None:
            return error(404, "NOT_FOUND")
        if run["status"] != "RUNNING":
            return error(409, "FAILED_PRECONDITION", "run is not RUNNING")
        body = call.body
        for k, v in (body.get("params") or {}).items():
            if k in run["params"] and run["params"][k] != v:
                return error(409, "ALREADY_EXISTS", "param differs")
        run["params"].update(body.get("params") or {})
        run["tags"].update(body.get("tags") or {})
        self.points.extend(body.get("metrics") or [])
        self.batches.append(body)
        r = reply(
            200,
            {
                "metrics": len(body.get("metrics") or []),
                "params": len(body.get("params") or {}),
                "tags": len(body.get("tags") or {}),
            },
        )
        if key:
            self.keys[key] = r
        return r
