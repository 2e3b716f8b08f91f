"""In-process CPU per request of the monitoring and A/B hot paths, with statement counts.

    .venv/bin/python -m bench.hot_cpu [--pg URL] [--profile NAME] [--n N]

Builds the app on a fresh database (SQLite in a temporary folder; with ``--pg`` a new database
on that PostgreSQL server, dropped afterwards), sets the data up with the same code as
``bench.monitoring`` and ``bench.abtests`` (their ``_setup``) driven through Flask's test client,
and reports per request: CPU ms (``time.process_time``: this process is the server, so the
client's share is the test client's request building, small and the same before and after) and
SQL statements sent (``before_cursor_execute``; SQLite's BEGIN/COMMIT are not cursor statements).
``--profile window_post`` (or any name in the table) prints a pyinstrument profile of that path;
``--only window_post,assign`` measures only those paths.
Nothing here is timed against a target: ``python -m bench.run`` is the measurement of record.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import event

from tether_server.runtime import Runtime

from . import Context
from . import abtests as ab_bench
from . import monitoring as mon_bench
from ._inproc import fresh_database, make_app, new_user


class _Resp:
    def __init__(self, r: Any) -> None:
        self._r = r
        self.status_code = r.status_code
        self.content = r.data
        self.text = r.get_data(as_text=True)
        self.url = ""
        self.request = type("Req", (), {"method": ""})()

    def json(self) -> Any:
        return orjson.loads(self.content) if self.content else None

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"{self.status_code}: {self.text[:300]}")


class _Http:
    """The part of ``requests.Session`` the bench setups use, over Flask's test client."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _call(self, method: str, url: str, **kw: Any) -> _Resp:
        headers = {**self.headers, **kw.pop("headers", {})}
        if "json" in kw:
            kw["data"] = orjson.dumps(kw.pop("json"))
        if "params" in kw:
            kw["query_string"] = kw.pop("params")
        return _Resp(self.client.open(url, method=method, headers=headers, **kw))

    def get(self, url: str, **kw: Any) -> _Resp:
        return self._call("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> _Resp:
        return self._call("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> _Resp:
        return self._call("PUT", url, **kw)


class _Ctx(Context):
    """The bench ``Context`` (users, experiments, runs) over Flask's test client instead of HTTP."""

    def __init__(self, app: Any, admin_token: str) -> None:
        super().__init__(backend="", base_url="", admin_token=admin_token, database_url="", data_dir="")
        self.client = app.test_client()

    def http(self, token: str | None = None) -> _Http:  # type: ignore[override]
        return _Http(self.client, token or self.admin_token)


def _app(url: str, tmp: Path) -> tuple[Any, str]:
    app = make_app(url, tmp, testing=True)
    return app, new_user(app, "admin", "root")[1]


def _measure(app: Any, fn: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(CPU ms per call, statements per call) over ``n`` calls after 5 warm-ups."""
    for i in range(5):
        fn(-1 - i)
    seen = [0]

    def count(*_a: Any) -> None:
        seen[0] += 1

    engine = Runtime.of(app).database.engine
    event.listen(engine, "before_cursor_execute", count)
    t0 = time.process_time()
    for i in range(n):
        fn(i)
    cpu = (time.process_time() - t0) / n
    event.remove(engine, "before_cursor_execute", count)
    return cpu * 1000, seen[0] / n


def _paths(app: Any, admin: str) -> dict[str, Callable[[int], Any]]:
    ctx = _Ctx(app, admin)
    rng = np.random.default_rng(1)
    prof = mon_bench.profile(rng)
    model, tok = mon_bench._setup(ctx, prof)  # type: ignore[arg-type]
    w = ctx.http(tok)
    mid = {}
    refs = {}
    for name, extra in (("posts", {}), ("rows", {"columns": [f"c{j}" for j in range(10)]}), ("page", {})):
        mid[name], refs[name] = mon_bench._monitor(ctx, tok, model, name, **extra)  # type: ignore[arg-type]
    from tether.monitoring import build_summary

    summary = build_summary(refs["posts"]["profile"],
                            {f"c{j}": rng.normal(j + 0.05, 1.0 + j / 50, 2000) for j in range(50)})  # fmt: skip
    head = orjson.dumps(summary)
    ref_id = refs["posts"]["reference_id"]
    T0, HOUR = mon_bench.T0, mon_bench.HOUR

    def window_post(i: int) -> None:
        data = b'{"reference_id":%d,"window_start":%d,"source":"pod-%d","summary":%s}' % (
            ref_id, T0 + (i % 720) * HOUR, i, head)  # fmt: skip
        r = w.post(f"/api/v1/monitors/{mid['posts']}/windows", data=data)
        assert r.status_code == 200, r.text

    col_bodies = mon_bench._raw_bodies(np.random.default_rng(2), True)
    row_bodies = mon_bench._raw_bodies(np.random.default_rng(2), False)

    def rows(bodies: list[bytes]) -> Callable[[int], None]:
        def go(i: int) -> None:
            r = w.post(f"/api/v1/monitors/{mid['rows']}/rows", data=bodies[i % 4])
            assert r.status_code == 200 and r.json()["rows"] == 10_000, r.text

        return go

    page_ref = refs["page"]["reference_id"]
    for k in range(720):
        data = b'{"reference_id":%d,"window_start":%d,"source":"pod","summary":%s}' % (
            page_ref,
            T0 + k * HOUR,
            head,
        )
        assert w.post(f"/api/v1/monitors/{mid['page']}/windows", data=data).status_code == 200
    from tether_server.services.monitoring.evaluate import evaluate_due

    with Runtime.of(app).database.transaction() as s:
        evaluate_due(s, int(time.time() * 1000), [mid["page"]])
    rng_q = f"?from={T0}&to={T0 + 720 * HOUR}"

    def page_of(view: str) -> Callable[[int], None]:
        paths = [f"/api/v1/monitors/{mid['page']}", f"/api/v1/monitors/{mid['page']}/drift{rng_q}{view}",
                 f"/api/v1/monitors/{mid['page']}/performance{rng_q}", f"/api/v1/alerts?monitor={mid['page']}&max_results=200"]  # fmt: skip

        def page(i: int) -> None:
            for p in paths:
                r = w.get(p)
                assert r.status_code == 200, r.text

        return page

    def drift_full(i: int) -> None:
        r = w.get(f"/api/v1/monitors/{mid['page']}/drift{rng_q}")
        assert r.status_code == 200

    tid, atok = ab_bench._setup(ctx)  # type: ignore[arg-type]
    a = ctx.http(atok)
    url = f"/api/v1/ab-tests/{tid}"

    def assign(i: int) -> None:
        r = a.get(url + "/assign", params={"unit": f"user-{i}"})
        assert r.status_code == 200

    pyrng = random.Random(0)

    def outcome(i: int) -> None:
        arm = "control" if i % 2 == 0 else "challenger"
        r = a.post(url + "/outcomes", json={"windows": ab_bench._window(arm, (i // 2) % 200, pyrng)})
        assert r.status_code == 200, r.text

    def results(i: int) -> None:
        r = a.get(url + "/results")
        assert r.status_code == 200, r.text

    def results_setup() -> None:
        for k in range(400):
            outcome(k)
        raw = [{"unit": f"raw-{i}", "value": int(i % 7 == 0)} for i in range(2000)]
        r = a.post(url + "/outcomes", json={"rows": raw}, headers={"Idempotency-Key": f"hot-{tid}"})
        assert r.status_code == 200

    return {
        "window_post": window_post,
        "rows_columns": rows(col_bodies),
        "rows_rowwise": rows(row_bodies),
        "page_cells": page_of("&view=cells"),
        "page_full": page_of(""),
        "drift_full": drift_full,
        "assign": assign,
        "outcome_post": outcome,
        "results": results,
        "_results_setup": results_setup,  # type: ignore[dict-item]
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=None, help="a PostgreSQL URL whose server may get a new database")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--only", default=None, help="comma-separated path names (default: all)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hotcpu-"))
    try:
        with fresh_database(args.pg) as url:
            _run(url, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(url: str, tmp: Path, args: argparse.Namespace) -> None:
    app, admin_token = _app(url, tmp)
    try:
        paths = _paths(app, admin_token)
        paths.pop("_results_setup")()  # type: ignore[operator]
        counts = {"rows_columns": 20, "rows_rowwise": 20, "page_cells": 10, "page_full": 5, "drift_full": 5}
        only = set(args.only.split(",")) if args.only else None
        for name, fn in paths.items():
            if only is not None and name not in only:
                continue
            n = counts.get(name, args.n)
            try:
                if args.profile == name:
                    from pyinstrument import Profiler

                    with Profiler(interval=0.0005) as p:
                        _measure(app, fn, n)
                    print(p.output_text(unicode=True, color=False, show_all=False))
                cpu, stmts = _measure(app, fn, n)
            except AssertionError as e:  # e.g. a body form this version does not take
                print(f"{name:14s} not available: {str(e)[:120]}")
                continue
            print(
                f"{name:14s} {cpu:8.2f} ms CPU/request  {stmts:5.2f} statements/request  (n={n})", flush=True
            )
    finally:
        Runtime.of(app).close()


if __name__ == "__main__":
    main()
