"""CPU and the longest transaction of one monitoring evaluator pass over 720 hourly windows x 50
columns, in-process (the data set of ``bench.monitoring``'s page monitor, posted through Flask's
test client as ``bench.hot_cpu`` does).

    .venv/bin/python -m bench.eval_pass [--pg URL] [--repeat N]

Runs ``workers.monitoring.evaluate_once`` (what the background worker and ``tether monitors
evaluate`` run) and reports CPU seconds (``time.process_time``), wall seconds, the number of
transactions and the longest one (from BEGIN to COMMIT/ROLLBACK on the engine; "write" = it sent
an INSERT/UPDATE/DELETE), and a digest of the stored results (drift, cells, metric, status,
floats rounded to 12 significant digits) so two checkouts can be compared. ``--repeat`` re-posts
every window and evaluates again. Before the first pass it also times the page's drift read
(``/drift?view=cells``) while all 720 windows are dirty (each recomputed in memory). Point
``PYTHONPATH`` at another checkout's ``server`` and ``client`` to measure it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import event, select

from tether_server.runtime import Runtime

from . import monitoring as mon_bench
from ._inproc import fresh_database
from .hot_cpu import _app, _Ctx


class _Transactions:
    """Durations of the engine's transactions: (seconds, wrote)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.open: dict[int, list[Any]] = {}
        self.done: list[tuple[float, bool]] = []
        self._hooks = [
            ("begin", self._begin),
            ("commit", self._end),
            ("rollback", self._end),
            ("before_cursor_execute", self._stmt),
        ]

    def __enter__(self) -> _Transactions:
        for name, fn in self._hooks:
            event.listen(self.engine, name, fn)
        return self

    def __exit__(self, *_: Any) -> None:
        for name, fn in self._hooks:
            event.remove(self.engine, name, fn)

    def _begin(self, conn: Any) -> None:
        self.open[id(conn)] = [time.perf_counter(), False]

    def _end(self, conn: Any) -> None:
        t = self.open.pop(id(conn), None)
        if t is not None:
            self.done.append((time.perf_counter() - t[0], t[1]))

    def _stmt(self, conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        t = self.open.get(id(conn))
        if t is not None and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            t[1] = True


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return float(f"{v:.12g}")
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def _digest(app: Any, mid: int) -> str:
    from tether_server.models.monitoring import MonitorWindowResult as R

    h = hashlib.sha256()
    with Runtime.of(app).database.session(write=False) as s:
        for row in s.execute(
            select(R.window_start, R.drift, R.cells, R.metric, R.status, R.closed, R.dirty, R.n)
            .where(R.monitor_id == mid)
            .order_by(R.window_start)
        ):
            h.update(orjson.dumps(_round(list(row)), option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalpass-"))
    try:
        with fresh_database(args.pg) as url:
            _run(url, tmp, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(url: str, tmp: Path, repeat: int) -> None:
    from tether.monitoring import build_summary
    from tether_server.workers.monitoring import evaluate_once

    app, admin = _app(url, tmp)
    try:
        ctx = _Ctx(app, admin)
        rng = np.random.default_rng(1)
        prof = mon_bench.profile(rng)
        model, tok = mon_bench._setup(ctx, prof)  # type: ignore[arg-type]
        mid, ref = mon_bench._monitor(ctx, tok, model, "page")  # type: ignore[arg-type]
        summary = build_summary(
            ref["profile"], {f"c{j}": rng.normal(j + 0.05, 1.0 + j / 50, 2000) for j in range(50)}
        )
        head = orjson.dumps(summary)
        w = ctx.http(tok)
        database = Runtime.of(app).database
        for rep in range(repeat):
            for k in range(mon_bench.PAGE_WINDOWS):
                data = b'{"reference_id":%d,"window_start":%d,"source":"pod-%d","summary":%s}' % (
                    ref["reference_id"], mon_bench.T0 + k * mon_bench.HOUR, rep, head)  # fmt: skip
                r = w.post(f"/api/v1/monitors/{mid}/windows", data=data)
                assert r.status_code == 200, r.text
            if rep == 0:  # the page read before any pass: every window is dirty, recomputed in memory
                rng_q = f"?from={mon_bench.T0}&to={mon_bench.T0 + mon_bench.PAGE_WINDOWS * mon_bench.HOUR}"
                c0 = time.process_time()
                r = w.get(f"/api/v1/monitors/{mid}/drift{rng_q}&view=cells")
                assert r.status_code == 200 and len(r.json()["windows"]) == mon_bench.PAGE_WINDOWS, r.text[
                    :200
                ]
                cpu = time.process_time() - c0
                # the windows only: reference_changes carry creation times and random digests
                body = orjson.dumps(_round(r.json()["windows"]), option=orjson.OPT_SORT_KEYS)
                if os.environ.get("EVAL_PASS_DUMP"):
                    Path(os.environ["EVAL_PASS_DUMP"]).write_bytes(body)
                print(
                    f"drift read of {mon_bench.PAGE_WINDOWS} dirty windows: CPU {cpu:.2f} s, "
                    f"windows digest {hashlib.sha256(body).hexdigest()[:16]}"
                )
            with _Transactions(database.engine) as tx:
                c0, t0 = time.process_time(), time.perf_counter()
                n = evaluate_once(database, int(time.time() * 1000), [mid])
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            writes = [d for d, wrote in tx.done if wrote]
            print(
                f"{database.engine.dialect.name} pass {rep + 1}: {n} windows x 50 columns: CPU {cpu:.2f} s, "
                f"wall {wall:.2f} s; {len(tx.done)} transactions, longest {max(d for d, _ in tx.done):.3f} s, "
                f"longest writing {max(writes, default=0):.3f} s ({len(writes)} writing); "
                f"results digest {_digest(app, mid)}",
                flush=True,
            )
    finally:
        Runtime.of(app).close()


if __name__ == "__main__":
    main()
