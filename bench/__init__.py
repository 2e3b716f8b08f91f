"""Tether benchmarks: ``python -m bench.run`` starts real servers and prints one table.

The interface every bench module implements (see bench/README.md)::

    def run(ctx: Context) -> list[Row]: ...

``Context`` gives a running server (base URL, admin token, database URL) and small helpers;
``Row`` is one line of the table. Modules are listed in ``bench.run.MODULES``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

__all__ = ["Context", "Row", "percentile", "fmt_ms"]


@dataclass
class Row:
    """One table line. ``ok`` is None when there is no target (informational rows)."""

    metric: str
    target: str
    measured: str
    ok: bool | None = None
    notes: str = ""


@dataclass
class Context:
    """What a bench module gets: one running server on one backend."""

    backend: str  # "sqlite" or "postgresql"
    base_url: str  # http://127.0.0.1:<port>
    admin_token: str
    database_url: str  # what the server uses (SQLAlchemy URL); modules may write to it directly
    data_dir: str
    quick: bool = False
    server: Any = None  # bench._server.Server (pid, startup times, RSS helpers)
    shared: dict[str, Any] = field(default_factory=dict)  # measurements modules pass on (e.g. latencies)
    _users: dict[str, tuple[int, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + "/api/v1" + path

    def http(self, token: str | None = None) -> requests.Session:
        """A keep-alive session sending ``token`` (default: admin) as a bearer token."""
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token or self.admin_token}"
        s.headers["Content-Type"] = "application/json"
        return s

    def user(self, role: str = "writer") -> tuple[int, str]:
        """(user id, API token) of a bench user with ``role``, created once per server."""
        if role not in self._users:
            name = f"bench-{role}-{uuid.uuid4().hex[:6]}"
            r = self.http().post(self.url("/users"), json={"name": name, "role": role, "token_name": "bench"})
            r.raise_for_status()
            self._users[role] = (r.json()["id"], r.json()["token"])
        return self._users[role]

    def experiment(self, prefix: str, token: str) -> int:
        r = self.http(token).post(self.url("/experiments"), json={"name": f"{prefix}-{uuid.uuid4().hex[:8]}"})
        r.raise_for_status()
        return int(r.json()["id"])

    def create_run(self, session: requests.Session, experiment_id: int, name: str = "") -> str:
        r = session.post(self.url("/runs"), json={"experiment_id": experiment_id, "name": name})
        r.raise_for_status()
        return str(r.json()["id"])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"
