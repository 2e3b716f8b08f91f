"""The evaluator pass in short transactions: no transaction is open while the drift statistics are
computed, a window posted to meanwhile stays dirty for the next pass, and a second pass running
inside the first one's computation (another process) neither duplicates an alert nor loses one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tether_server.models import AuditEvent
from tether_server.models.monitoring import MonitorWindowResult
from tether_server.runtime import Runtime
from tether_server.services.monitoring import evaluate as ev
from tether_server.services.monitoring import recompute
from tether_server.workers import monitoring as worker

from .helpers import HOUR, T0, create_monitor, post_rows, production_model
from .test_api import _evaluate


def _results(app: Any, mid: int) -> dict[int, MonitorWindowResult]:
    with Runtime.of(app).database.session(write=False) as s:
        rows = s.scalars(select(MonitorWindowResult).where(MonitorWindowResult.monitor_id == mid)).all()
        for r in rows:
            s.expunge(r)
    return {r.window_start: r for r in rows}


def test_a_window_posted_during_the_computation_is_reevaluated_by_the_next_pass(
    app: Any, client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    post_rows(client, auth, mid, T0, 0.0, 1)
    original = recompute.compute_windows
    calls = []

    def compute_then_post(monitor: Any, inputs: Any, now: int) -> Any:
        out = original(monitor, inputs, now)
        if not calls:  # a post arrives while the pass computes (it must not wait for a lock)
            post_rows(client, auth, mid, T0, 0.0, 2)
        calls.append(len(inputs))
        return out

    monkeypatch.setattr(recompute, "compute_windows", compute_then_post)
    assert _evaluate(app, T0 + 3 * HOUR) == 0  # computed, not stored: its inputs changed
    r = _results(app, mid)[T0]
    assert r.dirty and r.n == 0 and r.evaluated_at is None
    assert _evaluate(app, T0 + 3 * HOUR) == 1
    r = _results(app, mid)[T0]
    assert not r.dirty and r.closed and r.n == 2000 and r.sources == 1
    assert calls == [1, 1]
    assert _evaluate(app, T0 + 3 * HOUR) == 0  # nothing due any more


@pytest.mark.parametrize("claimed", [True, False])
def test_a_concurrent_pass_during_the_computation_neither_duplicates_nor_loses_alerts(
    app: Any, client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, claimed: bool
) -> None:
    """``claimed``: the rival finds the monitor claimed (advisory lock / flock) and skips it; without
    the claim (as if it were lost) both compute the same windows: the second store is skipped."""
    if not claimed:

        @contextlib.contextmanager
        def no_claim(database: Any, monitor_id: Any, wait: bool = False) -> Iterator[bool]:
            yield True

        monkeypatch.setattr(worker, "claim", no_claim)
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    for k in range(3):
        post_rows(client, auth, mid, T0 + k * HOUR, 0.8, k)  # drifted: alerts open
    original = recompute.compute_windows
    inner: list[int] = []

    def compute_with_a_rival(monitor: Any, inputs: Any, now: int) -> Any:
        out = original(monitor, inputs, now)
        if not inner:  # another process runs a whole pass meanwhile (no lock of ours blocks it)
            inner.append(-1)
            inner[0] = _evaluate(app, now)
        return out

    monkeypatch.setattr(recompute, "compute_windows", compute_with_a_rival)
    if claimed:
        assert _evaluate(app, T0 + 5 * HOUR) == 3 and inner == [0]  # the rival skipped the monitor
    else:
        assert _evaluate(app, T0 + 5 * HOUR) == 0 and inner == [3]  # the rival stored them first
    results = _results(app, mid)
    assert all(not r.dirty and r.closed and r.alerts_done for r in results.values())
    alerts = client.get(f"/api/v1/alerts?monitor={mid}", headers=auth).json["items"]
    drift = [a for a in alerts if a["rule"] == "drift" and a["column"] == "age"]
    assert len(drift) == 1 and drift[0]["status"] == "open"
    assert drift[0]["first_window"] == T0 and drift[0]["last_window"] == T0 + 2 * HOUR
    assert len({(a["rule"], a["column"]) for a in alerts}) == len(alerts)
    with Runtime.of(app).database.session(write=False) as s:
        opened = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "alert.opened")).all()
    assert len(opened) == len(alerts)  # each alert opened once


def test_the_in_session_pass_stores_what_the_staged_pass_stores(
    app: Any, client: Any, auth: dict[str, str]
) -> None:
    """``evaluate_due`` (one pass in the caller's session) and the worker's staged pass compute the
    same windows: two monitors on the same rows, one evaluated each way."""
    production_model(app, client, auth)
    staged = create_monitor(client, auth, name="staged")["id"]
    in_session = create_monitor(client, auth, name="in-session")["id"]
    for mid in (staged, in_session):
        post_rows(client, auth, mid, T0, 0.0, 1)
        post_rows(client, auth, mid, T0 + HOUR, 0.6, 2)
    now = T0 + 4 * HOUR
    assert worker.evaluate_staged(Runtime.of(app).database, now, monitor_ids=[staged]) == 2
    with Runtime.of(app).database.transaction() as s:
        assert ev.evaluate_due(s, now, monitor_ids=[in_session]) == 2
    a, b = _results(app, staged), _results(app, in_session)
    assert sorted(a) == sorted(b) == [T0, T0 + HOUR]
    fields = ("n", "sources", "drift", "cells", "status", "closed", "dirty", "alerts_done")
    for ws in a:
        assert {f: getattr(a[ws], f) for f in fields} == {f: getattr(b[ws], f) for f in fields}
    assert a[T0 + HOUR].status != "ok" and not a[T0].dirty
