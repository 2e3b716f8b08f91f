"""In-process CPU profile of the read hot paths (search, history) on a database of its own.

    python -m bench.prof_hot [--runs 5000] [--keep URL] [--explain] [--profile search|history|history-rows]

Builds the app with the Flask test client (no HTTP, no client decode), seeds runs like
``bench.core.grow`` (5 params + 5 latest metrics each) in one experiment owned by a writer, and
reports server CPU per request (``time.process_time``), database round trips per request and, with
``--explain``, PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of the search statement. CPU time, not wall
time: the host is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import uuid
from typing import Any

import orjson
from sqlalchemy import event, text

from tether_server.runtime import Runtime
from tether_server.services import rawsql

from ._inproc import drop_database, make_app, new_database, new_user
from .core import insert_runs

FILTER = "metrics.auc > 0.9 and params.depth = '6'"
COLUMNAR = "application/vnd.tether.columnar+json"


def seed(app: Any, uid: int, exp: int, n: int) -> None:
    eng = Runtime.of(app).database.engine
    insert_runs(eng, exp, uid, n)
    if eng.dialect.name == "postgresql":
        with eng.begin() as c:
            c.execute(text("ANALYZE runs; ANALYZE params; ANALYZE latest_metrics; ANALYZE run_tags"))


class Trips:
    """Statements sent: SQLAlchemy's and those of the plain DBAPI cursors of ``rawsql.cursor``."""

    def __init__(self, engine: Any) -> None:
        self.n, self.stmts = 0, []
        event.listen(engine, "before_cursor_execute", self.on)
        original = rawsql.cursor
        trips = self

        class Counted:
            def __init__(self, cur: Any) -> None:
                self._cur = cur

            def execute(self, stmt: str, params: Any = None, **kw: Any) -> Any:
                trips.on(None, None, stmt, params, None, False)
                return self._cur.execute(stmt, params, **kw)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._cur, name)

        @contextlib.contextmanager
        def counted(session: Any) -> Any:
            with original(session) as (cur, mark):
                yield Counted(cur), mark

        rawsql.cursor = counted

    def on(self, conn: Any, cur: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        self.n += 1
        self.stmts.append((stmt, params))


def measure(client: Any, fn: Any, n: int) -> tuple[float, float]:
    for _ in range(5):
        fn(client)
    cpu = []
    for _ in range(n):
        t = time.process_time()
        fn(client)
        cpu.append(time.process_time() - t)
    return statistics.median(cpu) * 1000, statistics.mean(cpu) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--url", default="")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--profile", default="", help="cProfile of search, history or history-rows")
    ap.add_argument("--drop", action="store_true")
    ap.add_argument("--sqlite", action="store_true", help="a new SQLite file instead of PostgreSQL")
    ap.add_argument("--scale", type=int, default=0, help="bench.scale's data with this many runs (admin)")
    a = ap.parse_args()
    if a.scale:
        return scale(a)
    url = a.url or new_database(None if a.sqlite else os.environ["TETHER_TEST_PG_URL"])
    print("database:", url.rsplit("/", 1)[-1])
    app = make_app(url)
    client = app.test_client()
    _, admin = new_user(app, "admin")
    uid, tok = new_user(app, "writer")
    h = {"Authorization": f"Bearer {tok}"}
    exp = client.post("/api/v1/experiments", json={"name": f"e-{uuid.uuid4().hex[:6]}"}, headers=h).json["id"]
    seed(app, uid, exp, a.runs)
    # a second experiment (not the caller's) with the same data, so the filter must use the experiment
    other = client.post(
        "/api/v1/experiments",
        json={"name": f"o-{uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {admin}"},
    ).json["id"]
    seed(app, uid, other, a.runs // 5)
    rid = client.post("/api/v1/runs", json={"experiment_id": exp}, headers=h).json["id"]
    ts = int(time.time() * 1000)
    pts = [{"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": ts + i} for i in range(10_000)]
    assert client.post(f"/api/v1/runs/{rid}/batch", json={"metrics": pts}, headers=h).status_code == 200
    body = orjson.dumps(
        {"experiment_ids": [exp], "filter": FILTER, "order_by": ["metrics.auc DESC"], "max_results": 100}
    )
    hj = {**h, "Content-Type": "application/json"}

    def search(c: Any) -> None:
        r = c.post("/api/v1/runs/search", data=body, headers=hj)
        assert r.status_code == 200 and len(orjson.loads(r.data)["items"]) == 100, r.data[:300]

    def hist(c: Any) -> None:
        r = c.get(f"/api/v1/runs/{rid}/metrics/loss", headers={**h, "Accept": COLUMNAR})
        assert r.status_code == 200 and len(orjson.loads(r.data)["steps"]) == 10_000

    def hist_rows(c: Any) -> None:
        r = c.get(f"/api/v1/runs/{rid}/metrics/loss", headers=h)
        assert r.status_code == 200 and len(orjson.loads(r.data)["items"]) == 10_000

    trips = Trips(Runtime.of(app).database.engine)
    for name, fn in (("search", search), ("history columnar", hist), ("history rows", hist_rows)):
        trips.n, trips.stmts = 0, []
        fn(client)
        rt = trips.n
        p50, mean = measure(client, fn, a.n)
        print(f"{name:20s} CPU p50 {p50:6.2f} ms  mean {mean:6.2f} ms  round trips {rt}")
    if a.explain:
        trips.stmts = []
        search(client)
        eng = Runtime.of(app).database.engine
        with eng.connect() as c:
            raw = c.connection.dbapi_connection
            for stmt, params in trips.stmts:
                if "FROM runs" not in stmt and "latest_metrics" not in stmt:
                    continue
                cur = raw.cursor()
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + stmt, params)
                print("\n".join(r[0] for r in cur.fetchall()))
                print("-" * 40)
    if a.profile:
        import cProfile
        import pstats

        fn = {"search": search, "history": hist, "history-rows": hist_rows}[a.profile]
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(a.n):
            fn(client)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(35)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    Runtime.of(app).close()
    if a.drop and not a.url:
        drop_database(url)


def scale(a: Any) -> None:
    """bench.scale's search (admin, no experiment_ids) on its generated data: CPU and EXPLAIN."""
    from .scale import bulk_runs

    url = a.url
    if not url:
        url = new_database(os.environ["TETHER_TEST_PG_URL"])
        print("generated in", round(bulk_runs(url, a.scale)), "s")
    print("database:", url.rsplit("/", 1)[-1])
    app = make_app(url)
    client = app.test_client()
    _, admin = new_user(app, "admin")
    hj = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    body = orjson.dumps({"filter": FILTER, "order_by": ["metrics.auc DESC"], "max_results": 100})

    def search(c: Any) -> None:
        r = c.post("/api/v1/runs/search", data=body, headers=hj)
        assert r.status_code == 200 and len(orjson.loads(r.data)["items"]) == 100, r.data[:300]

    trips = Trips(Runtime.of(app).database.engine)
    search(client)
    p50, mean = measure(client, search, a.n)
    print(f"search at {a.scale:,} runs: CPU p50 {p50:.2f} ms mean {mean:.2f} ms")
    trips.stmts = []
    search(client)
    with Runtime.of(app).database.engine.connect() as c:
        raw = c.connection.dbapi_connection
        for stmt, params in trips.stmts:
            if "FROM runs" in stmt:
                cur = raw.cursor()
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + stmt, params)
                print("\n".join(r[0] for r in cur.fetchall()))
    Runtime.of(app).close()


if __name__ == "__main__":
    main()
