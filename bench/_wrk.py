"""Debian's ``wrk`` for the bench rows that measure the server's intake or latency rather than a
Python client's (monitoring window posts, A/B outcome posts and REST assignment): one timed run of
a Lua script, its request count, the server CPU it cost and, on request, its latency percentiles.
Any answer but 2xx/3xx, a socket error or a failed run raises. ``trials`` runs the intake rows'
timed trials (``trial_limits``, shared with their Python-producer rows) and ``trials_note`` words
them for the table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import Context, Row, fmt_ms, percentile

THREADS = 2
CONNECTIONS = 8
TRIALS = 3  # on this shared 2-core host one trial swings by about 25%: the rows give the median
MISSING = "needs wrk (Debian package wrk; scripts/test installs it)"

_RATE = re.compile(r"^\s*(\d+) requests in ([\d.]+)s", re.M)
_BAD = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def missing(name: str, target: str) -> Row:
    """The row of a target that needs wrk where wrk is not installed: a FAIL, not a skip."""
    return Row(name, target, "not measured", False, MISSING)


@dataclass(frozen=True)
class Trial:
    requests: int
    seconds: float
    cpu_per_request: float  # server CPU seconds
    latency: dict[str, float]  # {"50": s, "99": s} with latency=True, else empty

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run(url: str, script: Path, env: dict[str, str], seconds: float, cpu: Callable[[], float], *,
        threads: int = THREADS, connections: int = CONNECTIONS, latency: bool = False,
        explain: Callable[[], str] = lambda: "") -> Trial:  # fmt: skip
    """One run of ``script`` against ``url`` for ``seconds``, with ``env`` added to this process's
    environment; ``cpu()`` reads the server's CPU seconds before and after. A failure raises with
    wrk's output and ``explain()`` (e.g. what one request answers)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", *(["--latency"] if latency else []),
           "-s", str(script), url]  # fmt: skip
    cpu0 = cpu()
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 60)
    used = cpu() - cpu0
    m, bad = _RATE.search(out.stdout), _BAD.search(out.stdout)
    quantiles = {q: float(v) * _UNIT[u] for q, v, u in _LATENCY.findall(out.stdout)}
    if out.returncode != 0 or m is None or bad is not None or (latency and "50" not in quantiles):
        raise RuntimeError(f"wrk: {out.stdout[-600:]} {out.stderr[-300:]}; {explain()}")
    n = int(m.group(1))
    return Trial(n, float(m.group(2)), used / max(n, 1), quantiles)


def trial_limits(quick: bool) -> tuple[int, float, int]:
    """(trials, seconds per trial, posts per trial at most) of an intake row, wrk or Python producers."""
    return (1, 2.0, 400) if quick else (TRIALS, 4.0, 3200)


def trials(ctx: Context, base_url: str, path: str, script: Path, env: dict[str, str], cpu: Callable[[], float],
           check: Callable[[], str]) -> tuple[list[float], list[float], int]:  # fmt: skip
    """Timed trials of ``script`` against ``path`` (``THREADS`` threads, ``CONNECTIONS`` keep-alive
    connections; the script reads ``POST_PATH`` and a ``PREFIX`` per trial): (rates, server CPU
    seconds per post, posts). A failed run raises with ``check()``'s account of one post."""
    n, limit_s, _posts = trial_limits(ctx.quick)
    runs = [
        run(
            base_url + path,
            script,
            {**env, "POST_PATH": path, "PREFIX": f"{env['PREFIX']}-{trial}"},
            limit_s,
            cpu,
            explain=lambda: f"one post answers: {check()}",
        )  # fmt: skip
        for trial in range(n)
    ]
    return [r.rate for r in runs], [r.cpu_per_request for r in runs], sum(r.requests for r in runs)


def trials_note(rates: list[float], cpus: list[float], total: int) -> str:
    spread = f"trials {', '.join(f'{r:.0f}' for r in rates)}/s; " if len(rates) > 1 else ""
    return f"median of {len(rates)}: {spread}{total} posts; server CPU {fmt_ms(percentile(cpus, 50))}/post"
