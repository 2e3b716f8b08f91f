"""A/B core speed, in-process (no server): ``python -m bench.abtest_stats [--units N]``.

Prints one table: SDK assignment rates (target: 1,000,000 assignments/s, issue 12) for the
single-call, closure and batch forms, the SHA-256 floor that bounds them, and the cost of the
statistics a results request will run (decision per treatment, SRM check). Best of several repeats.

Two clocks: wall time and this process's CPU time. On the shared 2-core machine the wall rate
mostly measures how many other jobs run (the load average is printed); the CPU-time rate is the
rate one unloaded core gives, and PASS/FAIL is judged on it (both are shown).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable

import numpy as np

from tether.abtest import Assigner, assign
from tether_server.stats.sequential import ArmStats, decide, difference_cs
from tether_server.stats.srm import srm_check

TARGET = 1_000_000


def best_rate(fn: Callable[[], object], items: int, repeats: int = 7) -> tuple[float, float]:
    """(wall items/s, CPU items/s), each the best of ``repeats``."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return items / wall, items / max(cpu, 1e-9)


def best_seconds(fn: Callable[[], object], loops: int, repeats: int = 5) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per call, each the best of ``repeats``."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(loops):
            fn()
        wall = min(wall, (time.perf_counter() - t) / loops)
        cpu = min(cpu, (time.process_time() - c) / loops)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=200_000)
    n = ap.parse_args().units
    units = [f"user-{i}" for i in range(n)]
    a2 = Assigner("ab-test-42", [0.9, 0.1])
    a3 = Assigner("ab-test-42", [0.5, 0.3, 0.2])
    prefix = hashlib.sha256(b"ab-test-42:")
    sha = hashlib.sha256

    def floor_copy() -> None:  # the hashing alone, inlined (no call, no comparison)
        new = prefix.copy
        for u in units:
            h = new()
            h.update(u.encode())
            h.digest()

    def floor_fresh() -> None:
        for u in units:
            sha(f"ab-test-42:{u}".encode()).digest()

    def single_2() -> None:
        for u in units:
            a2(u)

    def single_3() -> None:
        for u in units:
            a3(u)

    f2 = a2.as_function()

    def closure_2() -> None:
        for u in units:
            f2(u)

    few = units[: n // 20]
    rows: list[tuple[str, str, str, bool | None, str]] = []

    def rate_row(label: str, fn: Callable[[], object], items: int, target: bool, note: str) -> None:
        wall, cpu = best_rate(fn, items)
        rows.append(
            (
                label,
                f">= {TARGET:,}/s" if target else "info",
                f"{cpu:,.0f}/s",
                (cpu >= TARGET) if target else None,
                f"wall {wall:,.0f}/s; {note}",
            )
        )

    rate_row(
        "assign: Assigner(unit), 2 arms", single_2, n, True, "one call per unit: copy+update+digest+bisect"
    )
    rate_row("assign: Assigner(unit), 3 arms", single_3, n, True, "bisect over 2 bounds")
    rate_row("assign: Assigner.as_function()(unit)", closure_2, n, True, "closure over locals, 2 arms")
    rate_row(
        "assign_many / Assigner.many, 2 arms", lambda: a2.many(units), n, True, "batch: no per-call overhead"
    )
    rate_row("assign_many / Assigner.many, 3 arms", lambda: a3.many(units), n, True, "")
    rate_row(
        "assign(test, unit, traffic) stateless",
        lambda: [assign("ab-test-42", u, [0.9, 0.1]) for u in few],
        len(few),
        False,
        "rebuilds bounds and prefix every call: use Assigner in loops",
    )
    rate_row(
        "floor: prefix.copy()+update+digest inline", floor_copy, n, False, "SHA-256 alone, no call/compare"
    )
    rate_row(
        "floor: sha256(f'{test}:{unit}') inline", floor_fresh, n, False, "without the precomputed prefix"
    )

    rng = np.random.default_rng(0)
    c = ArmStats.from_values(rng.lognormal(3, 1, 50_000) * (rng.random(50_000) < 0.1))
    t = ArmStats.from_values(rng.lognormal(3, 1, 50_000) * (rng.random(50_000) < 0.1))
    for label, fn, note in [
        (
            "decide(control, treatment) one call",
            lambda: decide(c, t, metric_type="mean"),
            "CS + p-value + state",
        ),
        (
            "srm_check 2 arms one call",
            lambda: srm_check([50_210, 49_790], [0.5, 0.5]),
            "chi2 + always-valid p",
        ),
    ]:
        wall, cpu = best_seconds(fn, 2_000)
        rows.append((label, "info", f"{cpu * 1e6:.1f} µs", None, f"wall {wall * 1e6:.1f} µs; {note}"))
    m = 100_000
    nn = rng.integers(1_000, 100_000, (2, m)).astype(float)
    xx = rng.binomial(nn.astype(int), 0.1).astype(float)
    rate_row(
        "difference_cs vectorised",
        lambda: difference_cs(nn[0], xx[0], xx[0], nn[1], xx[1], xx[1], metric_type="proportion"),
        m,
        False,
        "intervals/s (simulations)",
    )

    w = max(len(r[0]) for r in rows)
    print(f"{'metric':<{w}}  {'target':<14}  {'CPU-time rate':>14}  result  notes")
    for label, target, measured, ok, note in rows:
        res = "-" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{label:<{w}}  {target:<14}  {measured:>14}  {res:<6}  {note}")
    print(
        f"\n{n:,} unit ids, best of 7; PASS/FAIL on CPU time; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
