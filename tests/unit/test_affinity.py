"""The worker CPU plan of ``tether server`` (TETHER_CPU_AFFINITY) and the hooks' CPU choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether_server import affinity
from tether_server.affinity import choose_cpu, cpu_quota_limited, parse_cpus, plan


def test_off_never_pins() -> None:
    assert not plan("off", 2, allowed=[0, 1], quota=False).pinned


def test_on_pins_over_every_allowed_cpu_even_when_uneven_or_under_a_quota() -> None:
    assert plan("on", 3, allowed=[2, 0, 1], quota=True).cpus == (0, 1, 2)


def test_one_allowed_cpu_is_never_pinned() -> None:
    for mode in ("on", "auto"):
        p = plan(mode, 2, allowed=[3], quota=False)
        assert not p.pinned and "one CPU" in p.reason


@pytest.mark.parametrize(
    ("workers", "cpus", "quota", "pinned"),
    [
        (2, [0, 1], False, True),  # sized to the host
        (4, [0, 1], False, True),  # two per CPU, evenly
        (4, [0, 1, 2, 3], False, True),
        (2, [0, 1], True, False),  # a CFS quota shares the CPUs by time
        (1, [0, 1], False, False),  # fewer workers than CPUs: the scheduler balances them
        (2, list(range(8)), False, False),  # a laptop: 2 workers on 8 cores
        (3, [0, 1], False, False),  # one CPU would carry two workers, the other one
    ],
)
def test_auto_pins_only_a_server_sized_to_its_cpus(
    workers: int, cpus: list[int], quota: bool, pinned: bool
) -> None:
    p = plan("auto", workers, allowed=cpus, quota=quota)
    assert p.pinned is pinned
    assert p.cpus == (tuple(cpus) if pinned else ())
    assert p.describe().startswith("Workers pinned" if pinned else "Workers are not pinned")


def test_choose_cpu_takes_the_least_used_and_a_replacement_takes_the_freed_cpu() -> None:
    cpus = (0, 1)
    first = choose_cpu(cpus, [])
    second = choose_cpu(cpus, [first])
    assert (first, second) == (0, 1)
    assert choose_cpu(cpus, [0, 1, 0]) == 1
    # the worker on CPU 0 died: its replacement goes back to CPU 0, not onto CPU 1 again
    assert choose_cpu(cpus, [1]) == 0
    assert choose_cpu(cpus, [None, 1]) == 0  # a worker without a CPU (no plan then) counts for none


def test_parse_cpus() -> None:
    assert parse_cpus("1,0") == (0, 1)
    assert parse_cpus("") == ()
    assert parse_cpus("0,x") == ()  # not ours: no pinning rather than a guess


def _v2(tmp: Path, group: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp / "cg"
    for rel, value in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(value)
    (root / group.strip("/")).mkdir(parents=True, exist_ok=True)
    proc = tmp / "cgroup"
    proc.write_text(f"0::{group}\n")
    return proc, root


def test_cgroup_v2_quota_on_the_group_or_an_ancestor(tmp_path: Path) -> None:
    proc, root = _v2(tmp_path / "a", "/kubepods/pod1/c1", {"kubepods/pod1/c1/cpu.max": "max 100000\n"})
    assert not cpu_quota_limited(proc, root)
    proc, root = _v2(tmp_path / "b", "/kubepods/pod1/c1", {"kubepods/pod1/cpu.max": "200000 100000\n"})
    assert cpu_quota_limited(proc, root)
    proc, root = _v2(tmp_path / "c", "/", {})  # a namespaced root: no cpu.max at all
    assert not cpu_quota_limited(proc, root)


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    for quota, limited in (("-1", False), ("150000", True)):
        root = tmp_path / quota / "cg"
        (root / "cpu,cpuacct" / "docker" / "abc").mkdir(parents=True)
        (root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text(quota + "\n")
        proc = tmp_path / quota / "cgroup"
        proc.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n")
        assert cpu_quota_limited(proc, root) is limited


def test_no_cgroup_file_means_no_quota(tmp_path: Path) -> None:
    assert not cpu_quota_limited(tmp_path / "missing", tmp_path)


def test_auto_reads_the_allowed_cpus_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(affinity.os, "sched_getaffinity", lambda _pid: {5, 4})
    assert plan("on", 2).cpus == (4, 5)


def test_a_platform_without_affinity_calls_never_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(affinity.os, "sched_getaffinity", raising=False)
    for mode in ("on", "auto"):
        p = plan(mode, 2, quota=False)
        assert not p.pinned and "cannot pin" in p.reason
