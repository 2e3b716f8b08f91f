"""Deterministic, sticky assignment of a unit to an A/B-test arm (pure standard library).

The server imports this module, so the SDK (``test.assign``), ``GET /ab-tests/{id}/assign`` and
anything built from the description below give the same arm for the same unit.

Algorithm ("tether-assign v1"), reproducible in any language with SHA-256 and IEEE-754 doubles:

1. ``key`` = the UTF-8 bytes of ``f"{test_id}:{unit_id}"``: the test id and the unit id as text
   (an integer is written in decimal, without sign padding or separators), joined by one colon.
2. ``digest`` = SHA-256(``key``) (32 bytes). ``h`` = its first 8 bytes read as an unsigned big-endian
   64-bit integer. ``k = h >> 11`` keeps the top 53 bits, so ``u = k / 2**53`` is an exact double
   in [0, 1) with no rounding anywhere.
3. Traffic shares ``s_0 … s_{m-1}`` (control first) must be finite and >= 0 with a positive sum
   ``S``; they need not sum to exactly 1 (90/10 and 0.9/0.1 mean the same thing). Cumulative
   bounds are doubles computed in this exact order: ``acc = 0.0``; for each ``i``:
   ``acc = acc + s_i`` (double addition), ``c_i = acc / S`` (double division). The last bound
   is then set to ``1.0`` whatever rounding produced, so every ``u`` lands in an arm.
4. The arm is the first index ``i`` with ``u < c_i``. An arm with share 0 gets no units (its bound
   equals the previous one).

Step 4 compares exactly: ``u < c_i`` holds iff ``k < ceil(c_i * 2**53)`` (``c_i * 2**53`` is an
exact double), iff ``h < ceil(c_i * 2**53) * 2**11``. The implementation precomputes these integer
bounds as 8-byte big-endian strings and compares the whole digest against them, because for a
32-byte digest ``d`` and an 8-byte bound ``b``, ``d < b`` lexicographically iff ``h < b`` as integers.

Speed: the SHA-256 state after hashing ``f"{test_id}:"`` is computed once per test (``Assigner``)
and copied per call, so a call costs one ``copy()``, one ``update()`` of the unit id and one
``digest()``; ``assign_many`` also avoids the per-call Python overhead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence

__all__ = ["Assigner", "assign", "assign_many", "bucket_bounds"]

_ALGORITHM = "tether-assign v1"


def bucket_bounds(traffic: Sequence[float]) -> list[float]:
    """Cumulative bounds ``c_i`` of step 3 (doubles; the last is exactly 1.0).

    Raises ``ValueError`` for no arms, a non-finite or negative share, or a zero total.
    """
    shares = [float(s) for s in traffic]
    if not shares:
        raise ValueError("traffic needs at least one share")
    for s in shares:
        if not math.isfinite(s) or s < 0:
            raise ValueError(f"traffic shares must be finite and >= 0, got {s!r}")
    total = _ordered_sum(shares)
    if not total > 0:
        raise ValueError("traffic shares must have a positive sum")
    acc = 0.0
    bounds = []
    for s in shares:
        acc = acc + s
        bounds.append(acc / total)
    bounds[-1] = 1.0
    return bounds


def _ordered_sum(values: Sequence[float]) -> float:
    """Left-to-right double sum (the order the docstring specifies; not ``math.fsum``)."""
    acc = 0.0
    for v in values:
        acc = acc + v
    return acc


def _byte_bounds(traffic: Sequence[float]) -> tuple[bytes, ...]:
    """Integer bounds of step 4 as 8-byte big-endian strings, for all arms but the last."""
    out = []
    for c in bucket_bounds(traffic)[:-1]:
        h_bound = math.ceil(c * 2.0**53) << 11  # exact: c * 2**53 is an exact double
        # c == 1.0 (only zero shares follow): every digest is below 33 bytes of 0xff.
        out.append(h_bound.to_bytes(8, "big") if h_bound < 2**64 else b"\xff" * 33)
    return tuple(out)


class Assigner:
    """Assignment for one test: ``Assigner(test_id, [0.9, 0.1])(unit_id) -> arm index``.

    Precomputes the hash prefix and the bounds, so a call is one SHA-256 copy/update/digest and at
    most ``len(traffic) - 1`` byte comparisons. Thread-safe (the shared prefix is only copied).
    """

    __slots__ = ("test_id", "traffic", "_copy", "_bounds", "_last")

    def __init__(self, test_id: object, traffic: Sequence[float]) -> None:
        self.test_id = str(test_id)
        self.traffic = tuple(float(s) for s in traffic)
        self._bounds = _byte_bounds(self.traffic)
        self._last = len(self.traffic) - 1
        self._copy = hashlib.sha256(f"{self.test_id}:".encode()).copy

    def __call__(self, unit_id: object) -> int:
        h = self._copy()
        h.update(unit_id.encode() if type(unit_id) is str else str(unit_id).encode())
        d = h.digest()
        for i, b in enumerate(self._bounds):
            if d < b:
                return i
        return self._last

    arm = __call__

    def many(self, unit_ids: Iterable[object]) -> list[int]:
        """Arms for many units (same result as calling one by one, less per-call overhead)."""
        new = self._copy
        bounds = self._bounds
        last = self._last
        out: list[int] = []
        append = out.append
        if len(bounds) == 1:  # two arms: one comparison
            b0 = bounds[0]
            for u in unit_ids:
                h = new()
                h.update(u.encode() if type(u) is str else str(u).encode())
                append(0 if h.digest() < b0 else 1)
            return out
        for u in unit_ids:
            h = new()
            h.update(u.encode() if type(u) is str else str(u).encode())
            d = h.digest()
            arm = last
            for i, b in enumerate(bounds):
                if d < b:
                    arm = i
                    break
            append(arm)
        return out

    def __repr__(self) -> str:
        return f"Assigner(test_id={self.test_id!r}, traffic={list(self.traffic)!r})"


def assign(test_id: object, unit_id: object, traffic: Sequence[float]) -> int:
    """Arm index (0 = control) of ``unit_id`` in test ``test_id`` with planned ``traffic`` shares.

    Stateless convenience form; it rebuilds the bounds on every call, so loops should use
    ``Assigner(test_id, traffic)`` instead (same answers).
    """
    return Assigner(test_id, traffic)(unit_id)


def assign_many(test_id: object, unit_ids: Iterable[object], traffic: Sequence[float]) -> list[int]:
    """Arm indices for many units of one test (the batch form of ``assign``)."""
    return Assigner(test_id, traffic).many(unit_ids)
