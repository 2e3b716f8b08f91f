"""Worker CPU pinning for ``tether server`` (``TETHER_CPU_AFFINITY``: auto, on or off).

On a host sized for the server (as many workers as CPUs, or a multiple), pinning each gunicorn
worker to its own CPU keeps the scheduler from moving the workers (and their threads) between
cores and from stacking both on one core while the other runs the client or the database; their
caches stay warm. Measured on the 2-core bench host with the window-post load (wrk, 8
connections), alternating pinned and unpinned servers on the same database: the pinned server's
median was 10-25% higher in each of four runs, at 4-13% less CPU per post (bench/README.md).

Pinning is wrong where the CPUs are shared out by time rather than by core: under a CFS quota
(a container's ``--cpus`` or a Kubernetes CPU limit) every CPU of the node is "allowed" but only a
share of time is, and two pinned workers could not move off two cores that other containers keep
busy. So ``auto`` pins only when there is no CPU quota and the workers cover the allowed CPUs
evenly; ``on`` pins whenever more than one CPU is allowed; ``off`` never pins.

``tether server`` makes the plan (``plan``) and hands the CPU list to gunicorn's hooks in
``TETHER_WORKER_CPUS``; the hooks (``gunicorn_conf``) give each new worker the allowed CPU with the
fewest live workers (``choose_cpu``), so a replaced worker takes its predecessor's CPU.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "on", "off")
WORKER_CPUS_ENV = "TETHER_WORKER_CPUS"  # internal: from `tether server` to the gunicorn hooks


@dataclass(frozen=True)
class Plan:
    cpus: tuple[int, ...]  # the CPUs the workers are spread over; empty: no pinning
    reason: str

    @property
    def pinned(self) -> bool:
        return bool(self.cpus)

    def describe(self) -> str:
        if not self.pinned:
            return f"Workers are not pinned to CPUs ({self.reason})."
        return f"Workers pinned one per CPU, over CPUs {format_cpus(self.cpus)} ({self.reason})."


def format_cpus(cpus: Iterable[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def parse_cpus(text: str) -> tuple[int, ...]:
    """``"0,1"`` -> (0, 1); anything that is not a list of CPU numbers -> () (no pinning)."""
    try:
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        return ()


def _group_and_ancestors(base: Path, path: str) -> Iterator[Path]:
    """The cgroup folder of ``path`` under ``base``, then each of its parents up to ``base``."""
    node = base / path.strip("/")
    while True:
        yield node
        if node == base or base not in node.parents:
            return
        node = node.parent


def _read(file: Path) -> str:
    try:
        return file.read_text()
    except OSError:
        return ""


def _v2_limited(cgroup_root: Path, path: str) -> bool:
    """cgroup v2: a ``cpu.max`` other than ``max ...`` on the process's group or any ancestor."""
    for node in _group_and_ancestors(cgroup_root, path):
        fields = _read(node / "cpu.max").split()
        if fields and fields[0] != "max":
            return True
    return False


def _v1_limited(cgroup_root: Path, controllers: str, path: str) -> bool:
    """cgroup v1: a positive ``cpu.cfs_quota_us`` on the group or an ancestor (-1 is unlimited),
    under the first of the usual mount points of the cpu controller that exists."""
    mounts = (cgroup_root / m for m in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"))
    base = next((m for m in mounts if m.is_dir()), None)
    if base is None:
        return False
    for node in _group_and_ancestors(base, path):
        try:
            if int(_read(node / "cpu.cfs_quota_us")) > 0:
                return True
        except ValueError:  # no such file here ("" from _read), or not a number
            pass
    return False


def cpu_quota_limited(
    proc_cgroup: Path = Path("/proc/self/cgroup"), cgroup_root: Path = Path("/sys/fs/cgroup")
) -> bool:
    """Whether this process runs under a CFS CPU quota (cgroup v1 or v2)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and _v2_limited(cgroup_root, path):
            return True
        if "cpu" in controllers.split(",") and _v1_limited(cgroup_root, controllers, path):
            return True
    return False


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on; () where the platform cannot pin (macOS, Windows)."""
    if not hasattr(os, "sched_getaffinity") or not hasattr(os, "sched_setaffinity"):
        return ()
    return tuple(sorted(os.sched_getaffinity(0)))


def plan(mode: str, workers: int, allowed: Iterable[int] | None = None, quota: bool | None = None) -> Plan:
    """Where ``workers`` gunicorn workers go under ``mode`` (auto / on / off)."""
    cpus = tuple(sorted(allowed_cpus() if allowed is None else allowed))
    if mode == "off":
        return Plan((), "TETHER_CPU_AFFINITY=off")
    if not cpus:
        return Plan((), f"{mode}: this platform cannot pin processes to CPUs")
    if len(cpus) < 2:
        return Plan((), f"{mode}: only one CPU is allowed")
    if mode == "on":
        return Plan(cpus, "TETHER_CPU_AFFINITY=on")
    if quota if quota is not None else cpu_quota_limited():
        return Plan(
            (), "auto: this process runs under a CPU quota, so its CPUs are shared by time, not by core"
        )
    if workers < len(cpus) or workers % len(cpus):
        return Plan(
            (),
            f"auto: {workers} worker(s) do not cover the {len(cpus)} allowed CPUs evenly; "
            "set TETHER_CPU_AFFINITY=on to pin anyway",
        )
    return Plan(cpus, f"auto: {workers} workers over {len(cpus)} CPUs, no CPU quota")


def choose_cpu(cpus: Iterable[int], taken: Iterable[int | None]) -> int:
    """The CPU of ``cpus`` with the fewest live workers on it (the lowest such CPU on a tie)."""
    count = Counter(c for c in taken if c is not None)
    return min(sorted(cpus), key=lambda c: count[c])
