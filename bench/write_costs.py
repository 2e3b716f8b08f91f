"""The write hot paths of issue 17, per request: CPU milliseconds and database round trips.

``python -m bench.write_costs [--pg URL] [--sqlite] [--n 400] [--profile DIR] [--gunicorn]``

Wall-clock rates on a shared 2-core host swing with its load; CPU time and round trips do not.
For each path this prints:

- **app CPU ms**: ``time.process_time()`` per request of the Flask app called in-process through
  its test client (the test client's own cost included), and the PostgreSQL backends' CPU
  (``/proc/<pid>/stat`` of this database's backends, when readable);
- **round trips**: ReadyForQuery messages per request in libpq's protocol trace (every
  statement, BEGIN and COMMIT), with the statements of one request; on SQLite (``--sqlite``, an
  embedded file: no server, no PG CPU column) the statements SQLite executed, from its trace
  callback (each row of an ``executemany`` counts);
- with ``--gunicorn``: the CPU of a real ``tether server`` (2 workers x 4 threads) per request,
  for sequential requests sent with ``requests`` + stdlib json (the mlflow shape) or orjson;
- with ``--profile DIR``: a pyinstrument profile of each path (``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from ._inproc import fresh_database, make_app, new_user
from ._server import Server, cpu_seconds, new_admin_token

PARAMS = {f"p{i}": str(i) for i in range(5)}
POINT = {"key": "loss", "value": 0.5, "step": 0, "timestamp": 1_700_000_000_000}


def _metrics(i: int) -> list[dict[str, Any]]:
    return [{"key": f"m{k}", "value": k / 7, "step": i, "timestamp": 1_700_000_000_000 + i} for k in range(5)]


# ---------------------------------------------------------------- database


def backend_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to this database (0 on SQLite)."""
    if url.startswith("sqlite"):
        return 0.0
    with _admin_engine(url).connect() as c:
        pids = [
            r[0]
            for r in c.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        ]
    return cpu_seconds(pids)


_ADMIN: dict[str, Engine] = {}


def _admin_engine(url: str) -> Engine:
    if url not in _ADMIN:
        _ADMIN[url] = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    return _ADMIN[url]


class Tracer:
    """libpq protocol traces of every connection the app opens, switched on per measurement;
    SQLite connections report each statement they execute instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conns: list[Any] = []
        self.sqlite: list[str] = []
        self.on = False
        self._fd: int | None = None

    def install(self) -> None:
        event.listen(Engine, "connect", self._connected)

    def _connected(self, dbapi_conn: Any, _rec: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.set_trace_callback(self._sqlite_statement)
        elif hasattr(dbapi_conn, "pgconn"):
            self.conns.append(dbapi_conn)
            if self.on:
                self._trace(dbapi_conn)

    def _sqlite_statement(self, sql: str) -> None:
        if self.on:
            self.sqlite.append(sql)

    def _trace(self, conn: Any) -> None:
        from psycopg.pq import Trace

        assert self._fd is not None
        conn.pgconn.trace(self._fd)
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

    @contextmanager
    def tracing(self) -> Iterator[list[str]]:
        self.path.write_text("")
        self.sqlite.clear()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.on = True
        lines: list[str] = []
        for c in self.conns:
            if not c.closed:
                self._trace(c)
        try:
            yield lines
        finally:
            self.on = False
            for c in self.conns:
                if not c.closed:
                    c.pgconn.untrace()
            os.close(self._fd)
            lines += self.path.read_text().splitlines()
            lines += (f"B\t\tReadyForQuery\t{sql}" for sql in self.sqlite)  # one per statement
            lines += (f"F\t\tQuery\t{sql}" for sql in self.sqlite)


def round_trips(lines: list[str]) -> int:
    return sum(1 for ln in lines if ln.startswith("B\t") and "\tReadyForQuery" in ln)


def statements(lines: list[str]) -> list[str]:
    out = []
    for ln in lines:
        parts = ln.split("\t")
        if len(parts) >= 4 and parts[0] == "F" and parts[2] in ("Query", "Parse"):
            sql = parts[3].strip()
            if parts[2] == "Parse":  # "" "SELECT ..." n oids
                sql = sql.split('" "', 1)[-1]
            out.append(sql.strip('"')[:90])
    return out


def _runs_of(sqls: list[str]) -> list[tuple[str, int]]:
    """Consecutive statements of the same shape (same first 40 characters) as (statement, count)."""
    out: list[tuple[str, int]] = []
    for sql in (" ".join(s.split()) for s in sqls):
        if out and out[-1][0][:40] == sql[:40]:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((sql, 1))
    return out


# ---------------------------------------------------------------- the paths


Path_ = Callable[[int], None]


def _check(status: int, want: int, body: Any) -> None:
    if status != want:
        raise RuntimeError(f"got {status}, wanted {want}: {str(body)[:300]}")


def in_process_paths(client: Any, auth: dict[str, str], exp: int, n: int) -> dict[str, tuple[Path_, int]]:
    """name -> (request(i), how many requests it makes); i runs from 0 to n + warm-up."""
    headers = {**auth, "Content-Type": "application/json"}
    runs: list[str] = []

    def post(url: str, body: Any, want: int) -> Any:
        r = client.post("/api/v1" + url, data=json.dumps(body), headers=headers)
        _check(r.status_code, want, r.data)
        return r

    def create_bare(i: int) -> None:
        runs.append(post("/runs", {"experiment_id": exp, "name": f"m{i}"}, 201).get_json()["id"])

    def batch(i: int) -> None:
        post(f"/runs/{runs[i]}/batch", {"params": PARAMS, "metrics": _metrics(i)}, 200)

    def create_full(i: int) -> None:
        body = orjson.dumps({"experiment_id": exp, "name": f"p{i}", "params": PARAMS, "metrics": _metrics(i)})
        r = client.post("/api/v1/runs", data=body, headers=headers)
        _check(r.status_code, 201, r.data)

    single_run = post("/runs", {"experiment_id": exp}, 201).get_json()["id"]

    def log_metric(i: int) -> None:
        post(f"/runs/{single_run}/metrics", {**POINT, "step": i}, 200)

    return {
        "POST /runs (mlflow shape: no params/metrics)": (create_bare, 1),
        "POST /runs/{id}/batch (5 params + 5 metrics)": (batch, 1),
        "POST /runs with 5 params + 5 metrics (pre shape)": (create_full, 1),
        "POST /runs/{id}/metrics (one point)": (log_metric, 1),
    }


def measure_in_process(pg_url: str | None, n: int, profile_dir: str | None) -> None:
    from tether_server.logconfig import configure_logging
    from tether_server.runtime import Runtime

    tracer = Tracer(Path(tempfile.mkdtemp(prefix="tether-wc-")) / "trace.txt")
    tracer.install()
    with fresh_database(pg_url) as url:
        app = make_app(url, access_log=True)
        configure_logging("INFO", "text")  # as the server does: one access line per request
        devnull = open(os.devnull, "w")  # noqa: SIM115
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.StreamHandler):
                h.setStream(devnull)
        _uid, token = new_user(app, "writer", "bench-writer")
        auth = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        r = client.post("/api/v1/experiments", json={"name": "write-costs"}, headers=auth)
        _check(r.status_code, 201, r.data)
        exp = r.get_json()["id"]
        warm = 30
        paths = in_process_paths(client, auth, exp, n)
        print(f"\n{make_url(url).get_backend_name()}, in process:")
        print(f"{'path':52} {'app CPU ms':>10} {'PG CPU ms':>10} {'round trips':>11}")
        for name, (fn, per) in paths.items():
            for i in range(warm):
                fn(i)
            pg0, c0 = backend_cpu(url), time.process_time()
            for i in range(warm, warm + n):
                fn(i)
            cpu = (time.process_time() - c0) / (n * per) * 1000
            pg = (backend_cpu(url) - pg0) / (n * per) * 1000
            with tracer.tracing() as lines:
                for i in range(warm + n, warm + n + 10):
                    fn(i)
            trips = round_trips(lines) / (10 * per)
            print(f"{name:52} {cpu:10.2f} {pg:10.2f} {trips:11.1f}")
            with tracer.tracing() as one:
                fn(warm + n + 10)
            for sql, times in _runs_of(statements(one)):
                print(f"{'':8}- {sql}" + (f"  (x{times})" if times > 1 else ""))
            if profile_dir:
                _profile(profile_dir, name, fn, warm + n + 11, n)
        Runtime.of(app).close()


def _profile(out_dir: str, name: str, fn: Path_, start: int, n: int) -> None:
    from pyinstrument import Profiler

    prof = Profiler(interval=0.0002)
    prof.start()
    for i in range(start, start + n):
        fn(i)
    prof.stop()
    safe = "".join(c if c.isalnum() else "_" for c in name)[:60]
    path = Path(out_dir) / f"{safe}.txt"
    path.write_text(prof.output_text(unicode=False, show_all=False))
    print(f"{'':8}profile: {path}")


# ---------------------------------------------------------------- under gunicorn


def measure_gunicorn(pg_url: str | None, n: int) -> None:
    import requests

    with fresh_database(pg_url) as url:
        data_dir = tempfile.mkdtemp(prefix="tether-wc-")
        # SQLite: the server's own embedded file in its data directory (it migrates it)
        srv = Server(data_dir=data_dir, admin_token=new_admin_token(), database_url=url if pg_url else "")
        srv.start()
        try:
            _gunicorn_paths(srv, url, n, requests)
        finally:
            srv.stop()


def _gunicorn_paths(srv: Server, url: str, n: int, requests: Any) -> None:
    api = srv.base_url + "/api/v1"
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {srv.admin_token}"
    r = admin.post(api + "/users", json={"name": "bench-writer", "role": "writer", "token_name": "b"})
    r.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    exp = s.post(api + "/experiments", json={"name": "write-costs"}).json()["id"]
    runs: list[str] = []
    single_run = s.post(api + "/runs", json={"experiment_id": exp}).json()["id"]
    headers = {"Content-Type": "application/json"}

    def create_bare(i: int) -> None:
        r = s.post(api + "/runs", json={"experiment_id": exp, "name": f"m{i}"})
        _check(r.status_code, 201, r.text)
        runs.append(r.json()["id"])

    def batch(i: int) -> None:
        r = s.post(api + f"/runs/{runs[i]}/batch", json={"params": PARAMS, "metrics": _metrics(i)})
        _check(r.status_code, 200, r.text)

    def create_full(i: int) -> None:
        body = orjson.dumps({"experiment_id": exp, "name": f"p{i}", "params": PARAMS, "metrics": _metrics(i)})
        r = s.post(api + "/runs", data=body, headers=headers)
        _check(r.status_code, 201, r.text)

    def log_metric(i: int) -> None:
        r = s.post(api + f"/runs/{single_run}/metrics", json={**POINT, "step": i})
        _check(r.status_code, 200, r.text)

    print(f"\ngunicorn 2x4, sequential requests: {'server CPU ms':>13} {'PG CPU ms':>10} {'p50 ms':>7}")
    for name, fn in (
        ("POST /runs (mlflow shape)", create_bare),
        ("POST /runs/{id}/batch (5 + 5)", batch),
        ("POST /runs + 5 params + 5 metrics (pre)", create_full),
        ("POST /runs/{id}/metrics", log_metric),
    ):
        for i in range(30):
            fn(i)
        lat = []
        cpu0, pg0 = srv.cpu(), backend_cpu(url)
        for i in range(30, 30 + n):
            t = time.perf_counter()
            fn(i)
            lat.append(time.perf_counter() - t)
        cpu = (srv.cpu() - cpu0) / n * 1000
        pg = (backend_cpu(url) - pg0) / n * 1000
        lat.sort()
        print(f"{name:45} {cpu:13.2f} {pg:10.2f} {lat[len(lat) // 2] * 1000:7.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pg", default=os.environ.get("TETHER_BENCH_PG_URL") or os.environ.get("TETHER_TEST_PG_URL")
    )
    ap.add_argument("--sqlite", action="store_true", help="measure on an embedded SQLite file instead")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--profile", default=None, help="write a pyinstrument profile per path here")
    ap.add_argument("--gunicorn", action="store_true", help="also measure a real tether server")
    args = ap.parse_args(argv)
    if not args.pg and not args.sqlite:
        ap.error("--pg URL (or TETHER_BENCH_PG_URL / TETHER_TEST_PG_URL) or --sqlite is required")
    pg = None if args.sqlite else args.pg
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    measure_in_process(pg, args.n, args.profile)
    if args.gunicorn:
        measure_gunicorn(pg, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
