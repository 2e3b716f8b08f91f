"""Sticky A/B assignment: the documented algorithm re-implemented here from the docstring, shares
over 1,000,000 unit ids, stickiness across instances and processes, and input validation."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tether.abtest import Assigner, assign, assign_many, bucket_bounds


def documented_assign(test_id, unit_id, traffic) -> int:
    """The module docstring, step by step, with floats for u (no byte tricks)."""
    key = f"{test_id}:{unit_id}".encode()
    h = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    u = (h >> 11) / 2**53
    total = 0.0
    for s in traffic:
        total = total + float(s)
    acc, bounds = 0.0, []
    for s in traffic:
        acc = acc + float(s)
        bounds.append(acc / total)
    bounds[-1] = 1.0
    for i, c in enumerate(bounds):
        if u < c:
            return i
    raise AssertionError("u must land in an arm")


PLANS = [[0.5, 0.5], [0.9, 0.1], [90, 10], [1, 1, 1], [0.2, 0.0, 0.3, 0.5], [0.7, 0.2, 0.1]]


@pytest.mark.parametrize("traffic", PLANS)
def test_agrees_with_the_documented_algorithm(traffic) -> None:
    units = [f"user-{i}" for i in range(20_000)] + list(range(5_000)) + ["", "é✓", "a:b"]
    a = Assigner("exp-7", traffic)
    expected = [documented_assign("exp-7", u, traffic) for u in units]
    assert a.many(units) == expected
    assert [a(u) for u in units[::97]] == expected[::97]
    f = a.as_function()
    assert [f(u) for u in units[::89]] == expected[::89]
    assert assign_many("exp-7", units, traffic) == expected
    assert all(assign("exp-7", u, traffic) == e for u, e in zip(units[::501], expected[::501], strict=True))


def test_known_vector() -> None:
    """A fixed example other languages can check against (sha256 of b"42:user-1")."""
    digest = hashlib.sha256(b"42:user-1").digest()
    h = int.from_bytes(digest[:8], "big")
    arm = 0 if (h >> 11) / 2**53 < 0.5 else 1
    assert assign(42, "user-1", [0.5, 0.5]) == assign("42", "user-1", [1, 1]) == arm


def test_bounds_at_exact_boundaries() -> None:
    """The byte comparison equals u < c_i at the exact bound: k = ceil(c*2**53) - 1 and k = ceil(c*2**53)."""
    a = Assigner("t", [0.3, 0.7])
    c = bucket_bounds([0.3, 0.7])[0]
    k = math.ceil(c * 2**53)
    below, at = ((k - 1) << 11).to_bytes(8, "big") + b"\xff" * 24, (k << 11).to_bytes(8, "big") + bytes(24)
    assert below < a._bounds[0] <= at
    assert (k - 1) / 2**53 < c <= k / 2**53


@pytest.mark.parametrize("traffic", [[0.9, 0.1], [0.5, 0.3, 0.2]])
def test_shares_within_1_percent_over_a_million_units(traffic) -> None:
    n = 1_000_000
    counts = Counter(Assigner("share-test", traffic).many(range(n)))
    total = sum(traffic)
    for i, s in enumerate(traffic):
        observed = counts[i] / n
        assert abs(observed - s / total) < 0.01 * (s / total)  # within 1 % of the planned share


def test_zero_share_arm_gets_no_units() -> None:
    arms = Assigner("z", [0.5, 0.0, 0.5]).many(range(50_000))
    assert 1 not in arms and {0, 2} == set(arms)
    assert set(Assigner("z", [1.0, 0.0]).many(range(10_000))) == {0}


def test_sticky_across_calls_instances_and_processes() -> None:
    units = [f"u{i}" for i in range(2_000)]
    first = Assigner(17, [0.9, 0.1]).many(units)
    assert Assigner("17", [0.9, 0.1]).many(units) == first  # integer and text test ids agree
    assert [Assigner(17, [0.9, 0.1])(u) for u in units] == first
    client = str(Path(__file__).resolve().parents[2] / "client")
    code = "from tether.abtest import assign_many; print(''.join(map(str, assign_many(17, [f'u{i}' for i in range(2000)], [0.9, 0.1]))))"
    env = {**os.environ, "PYTHONPATH": client, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "".join(map(str, first))
    # a different test id reshuffles units (independent tests do not share their treatment groups)
    other = Assigner(18, [0.9, 0.1]).many(units)
    assert other != first


@pytest.mark.parametrize("traffic", [[], [0.5, -0.1], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]])
def test_bad_traffic_raises(traffic) -> None:
    with pytest.raises(ValueError):
        Assigner("t", traffic)


def test_pure_standard_library() -> None:
    src = (Path(__file__).resolve().parents[2] / "client" / "tether" / "abtest" / "_assign.py").read_text()
    imports = {
        line.split()[1].split(".")[0] for line in src.splitlines() if line.startswith(("import ", "from "))
    }
    # the standard library only (any language can reproduce it; the SDK needs no extra); the C
    # SHA-256 it may load by name (_sha2 / _sha256) is part of CPython's standard library too
    assert imports <= set(sys.stdlib_module_names), imports - set(sys.stdlib_module_names)
