"""``tether server`` pins its gunicorn workers one per CPU (TETHER_CPU_AFFINITY), checked on the
real processes: their allowed-CPU masks in /proc, and a killed worker's replacement."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tether_server.affinity import cpu_quota_limited, plan

from .server_proc import ServerProcess, server_env

if not hasattr(os, "sched_getaffinity"):  # pragma: no cover - Linux runs the suite
    pytest.skip("this platform cannot pin processes to CPUs", allow_module_level=True)
ALLOWED = sorted(os.sched_getaffinity(0))


def cpu_list(text: str) -> set[int]:
    """``0-2,5`` -> {0, 1, 2, 5} (the kernel's Cpus_allowed_list)."""
    out: set[int] = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def allowed_of(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return cpu_list(line.split(":", 1)[1])
    raise AssertionError(f"no Cpus_allowed_list for {pid}")


def workers_of(master: int, count: int, timeout: float = 30) -> dict[int, set[int]]:
    """The master's ``count`` worker processes and their allowed CPUs, once all have started."""
    deadline = time.monotonic() + timeout
    while True:
        pids: set[int] = set()
        for task in Path(f"/proc/{master}/task").iterdir():
            try:
                pids |= {int(p) for p in (task / "children").read_text().split()}
            except OSError:
                continue
        if len(pids) == count:
            try:
                return {p: allowed_of(p) for p in pids}
            except OSError:  # one exited between the listing and the read
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} workers, saw {sorted(pids)}")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs two allowed CPUs")
def test_pinned_workers_one_per_cpu_and_a_replacement_takes_the_freed_cpu(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", TETHER_CPU_AFFINITY="on")
    with ServerProcess(env, workers=2, threads=1) as srv:
        assert srv.proc is not None
        workers = workers_of(srv.proc.pid, 2)
        assert sorted(workers.values(), key=min) == [{ALLOWED[0]}, {ALLOWED[1]}]
        assert allowed_of(srv.proc.pid) == set(ALLOWED)  # the master itself stays unpinned
        victim, (cpu,) = next((p, c) for p, c in workers.items() if c == {ALLOWED[0]})
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = workers_of(srv.proc.pid, 2)
            if victim not in now:
                break
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        (new,) = set(now) - set(workers)
        assert now[new] == {cpu}  # not stacked onto the survivor's CPU


@pytest.mark.slow
def test_auto_pins_a_server_sized_to_the_allowed_cpus(tmp_path: Path) -> None:
    workers = len(ALLOWED) if len(ALLOWED) <= 4 else 2  # a big host: 2 workers, which auto leaves alone
    expected = plan("auto", workers, allowed=ALLOWED, quota=cpu_quota_limited())
    with ServerProcess(server_env(tmp_path / "data"), workers=workers, threads=1) as srv:
        assert srv.proc is not None
        masks = list(workers_of(srv.proc.pid, workers).values())
    if expected.pinned:
        assert sorted(masks, key=min) == [{c} for c in ALLOWED]
    else:
        assert all(m == set(ALLOWED) for m in masks)
