"""The one bench command: ``python -m bench.run [--only core,auth] [--pg URL] [--quick]``.

For each backend (SQLite always; PostgreSQL when ``--pg``/``TETHER_BENCH_PG_URL`` is given or a
local cluster can be started) it starts a real ``tether server``, runs the selected modules
against it, stops it, and finally prints one table with a column per backend.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import Context, Row
from ._server import (
    Server,
    drop_pg_schema,
    fresh_pg_schema,
    new_admin_token,
    pg_reachable,
    start_local_postgres,
)

LOCAL_PG = f"postgresql+psycopg://tether:tether@127.0.0.1:{os.environ.get('PGPORT', '55499')}/tether"

# name -> "module:function"; each function is ``run(ctx: Context) -> list[Row]``.
# Modules that are not there yet are skipped with a note.
MODULES: dict[str, str] = {
    "core": "bench.core:run",
    "auth": "bench.core:run_auth",
    "artifacts": "bench.artifacts:run",
    "registry": "bench.registry:run",
    "ui": "bench.ui:run",
    "abtests": "bench.abtests:run",
    "monitoring": "bench.monitoring:run",
    "hotpaths": "bench.hotpaths:run",
    "teams": "bench.teams:run",
}


def load(name: str) -> Callable[[Context], list[Row]] | None:
    mod_name, _, fn = MODULES[name].partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name == mod_name:
            return None
        raise
    return getattr(module, fn or "run")


def pg_url(arg: str | None, wanted: bool) -> str | None:
    url = arg or os.environ.get("TETHER_BENCH_PG_URL")
    if url:
        return url
    if not wanted:
        return None
    if pg_reachable(LOCAL_PG):  # started earlier by this command
        return LOCAL_PG
    try:
        print("starting a local PostgreSQL cluster ...", file=sys.stderr)
        url = start_local_postgres()
    except Exception as e:  # noqa: BLE001 - PostgreSQL is optional here
        print(f"PostgreSQL not available ({e}); SQLite only", file=sys.stderr)
        return None
    return url if pg_reachable(url) else None


def run_backend(backend: str, db_url: str, names: list[str], quick: bool) -> list[Row]:
    data_dir = tempfile.mkdtemp(prefix=f"tether-bench-{backend}-")
    schema = None
    server_url = db_url
    if backend == "postgresql":
        server_url, schema = fresh_pg_schema(db_url)
    srv = Server(data_dir=data_dir, admin_token=new_admin_token(), database_url=server_url)
    rows: list[Row] = []
    load0 = os.getloadavg()[0]
    try:
        srv.start()  # fresh: creates the schema
        srv.restart()  # the usual case: an existing database
        srv.measure_idle()
        db = server_url or f"sqlite:///{data_dir}/tether.db"
        ctx = Context(
            backend=backend,
            base_url=srv.base_url,
            admin_token=srv.admin_token,
            database_url=db,
            data_dir=data_dir,
            quick=quick,
            server=srv,
        )
        workers_cpus = srv.worker_cpus()  # pinned one per CPU by TETHER_CPU_AFFINITY=auto on a 2-core host
        for name in names:
            rows += run_module(name, ctx)
        rows.append(
            Row(
                "host load, 1-min avg (before / after)",
                "info",
                f"{load0:.1f} / {os.getloadavg()[0]:.1f}",
                None,
                f"{os.cpu_count()} cores shared by server, client and any other jobs on the host; "
                f"the server's workers' CPUs: {workers_cpus}",
            )
        )
    finally:
        srv.stop()
        keep = bool(os.environ.get("TETHER_BENCH_KEEP"))
        if schema and not keep:
            drop_pg_schema(db_url, schema)
        if keep:
            print(
                f"kept {data_dir}" + (f" and PostgreSQL schema {schema}" if schema else ""), file=sys.stderr
            )
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return rows


def run_module(name: str, ctx: Context) -> list[Row]:
    try:
        fn = load(name)
    except Exception as e:  # noqa: BLE001 - a half-written module must not stop the others
        return [Row(f"[{name}] not loadable", "-", type(e).__name__, False, str(e)[:120])]
    if fn is None:
        return [Row(f"[{name}]", "-", "not present", None, f"{MODULES[name]} is not written yet")]
    print(f"[{ctx.backend}] {name} ...", file=sys.stderr)
    t = time.perf_counter()
    try:
        rows = fn(ctx)
    except Exception as e:  # noqa: BLE001 - one broken module must not hide the others
        traceback.print_exc()
        return [Row(f"[{name}] failed", "-", type(e).__name__, False, str(e)[:120])]
    print(f"[{ctx.backend}] {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return rows


def merge(results: dict[str, list[Row]]) -> list[list[str]]:
    """One line per metric, one measured/ok pair per backend; notes from the first backend."""
    backends = list(results)
    order: list[str] = []
    cells: dict[str, dict[str, Row]] = {}
    for b, rows in results.items():
        for r in rows:
            if r.metric not in cells:
                order.append(r.metric)
                cells[r.metric] = {}
            cells[r.metric][b] = r
    table = [["metric", "target", *[x for b in backends for x in (b, "ok")], "notes"]]
    for m in order:
        first = next(iter(cells[m].values()))
        line = [m, first.target]
        for b in backends:
            r = cells[m].get(b)
            line += [r.measured, _ok(r.ok)] if r else ["-", ""]
        line.append(_notes({b: r.notes for b, r in cells[m].items() if r.notes}))
        table.append(line)
    return table


def _notes(by_backend: dict[str, str]) -> str:
    """One note when the backends agree; otherwise each prefixed with its backend."""
    if len(set(by_backend.values())) <= 1:
        return next(iter(by_backend.values()), "")
    return " | ".join(f"{b}: {n}" for b, n in by_backend.items())


def _ok(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def render(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    out = []
    for k, row in enumerate(table):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
        if k == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 5)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument(
        "--only", default="", help=f"comma-separated modules (default: all of {', '.join(MODULES)})"
    )
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: TETHER_BENCH_PG_URL, or start one)")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--quick", action="store_true", help="shorter loops; skip the 100,000-run search")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        ap.error(f"unknown modules {unknown}; known: {list(MODULES)}")
    backends: dict[str, str] = {"sqlite": ""}
    pg = None if args.no_pg else pg_url(args.pg, wanted=True)
    if pg:
        backends["postgresql"] = pg
    results: dict[str, list[Row]] = {}
    for backend, url in backends.items():
        results[backend] = run_backend(backend, url, names, args.quick)
    print(render(merge(results)))
    failed = any(r.ok is False for rows in results.values() for r in rows)
    return 1 if failed else 0


def _entry() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
