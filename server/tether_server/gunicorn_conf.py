"""Gunicorn server hooks for ``tether server`` (loaded with ``--config python:tether_server.gunicorn_conf``)."""

from __future__ import annotations

import os
from typing import Any

from .affinity import WORKER_CPUS_ENV, choose_cpu, parse_cpus


def pre_fork(server: Any, worker: Any) -> None:
    """In the master, before a worker forks: pick its CPU when ``tether server`` planned pinning
    (``affinity``): the planned CPU with the fewest live workers, so a replacement takes the CPU
    its predecessor left."""
    cpus = parse_cpus(os.environ.get(WORKER_CPUS_ENV, ""))
    if cpus:
        worker.tether_cpu = choose_cpu(
            cpus, (getattr(w, "tether_cpu", None) for w in server.WORKERS.values())
        )


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker, before its threads start (they inherit the mask): pin it."""
    cpu = getattr(worker, "tether_cpu", None)
    if cpu is None:
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:  # the CPU left the allowed set since the plan: run unpinned
        server.log.warning("could not pin worker %s to CPU %s: %s", worker.pid, cpu, exc)


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was replaced: drop its live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
