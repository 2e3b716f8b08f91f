"""The A/B hot paths (``services/abtests/serving``) on SQLite and PostgreSQL: the per-process cache
follows changes made elsewhere, never skips the permission check, and each path costs the
statements it promises (round trips are counted, nothing is timed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from tests.abtests.helpers import new_test, post
from tests.api.helpers import assert_error
from tests.conftest import bearer
from tests.registry.helpers import grant


def _window(arm: str, start: int, n: int = 100, k: int = 10) -> dict[str, Any]:
    return {"arm": arm, "window_start": start, "source": "s", "n": n, "successes": k}


@contextmanager
def _statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block, without BEGIN/COMMIT/ROLLBACK."""
    from tether_server.runtime import Runtime

    seen: list[str] = []
    engine = Runtime.of(app).database.engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _stop_elsewhere(app: Any, test_id: int) -> None:
    """Stop the test in a transaction of its own, as another server process would (no PATCH here,
    so this process's cache is not told)."""
    from tether_server.models.abtests import ABTest
    from tether_server.models.registry import RegisteredModel
    from tether_server.runtime import Runtime
    from tether_server.services.abtests import catalog

    with Runtime.of(app).database.transaction() as s:
        test = s.get(ABTest, test_id)
        assert test is not None
        catalog.stop(s, None, s.get(RegisteredModel, test.model_id), test, "manual")  # type: ignore[arg-type]


def test_assign_follows_a_change_made_by_another_process(client: Any, app: Any, auth: dict[str, str],
                                                         model: Any) -> None:  # fmt: skip
    t = new_test(client, auth)
    units = [f"u{i}" for i in range(40)]
    before = [client.get(f"/api/v1/ab-tests/{t['id']}/assign?unit={u}", headers=auth).json for u in units]
    assert {b["arm"] for b in before} == {"control", "challenger"} and all(b["active"] for b in before)
    _stop_elsewhere(app, t["id"])
    after = [client.get(f"/api/v1/ab-tests/{t['id']}/assign?unit={u}", headers=auth).json for u in units]
    # a stopped test serves the control to everyone; the assigned arm stays what it was
    assert all(a["arm"] == "control" and not a["active"] for a in after)
    assert [a["assigned_arm"] for a in after] == [b["assigned_arm"] for b in before]
    r = client.get(f"/api/v1/ab-tests/{t['id']}/results", headers=auth)
    assert r.status_code == 200 and r.json["status"] == "stopped" and r.json["state"] == "inconclusive"


def test_a_warm_cache_still_checks_permissions(
    client: Any, auth: dict[str, str], model: Any, users: Any
) -> None:
    t = new_test(client, auth)
    tid = t["id"]
    for start in (0, 60_000):  # the second post takes the one-statement path
        both = [_window("control", start), _window("challenger", start)]
        assert post(client, auth, tid, {"windows": both}).status_code == 200
    assert client.get(f"/api/v1/ab-tests/{tid}/assign?unit=x", headers=auth).status_code == 200
    assert client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth).status_code == 200
    stranger = bearer(users.create("otto", "writer")[1])
    assert_error(client.get(f"/api/v1/ab-tests/{tid}/assign?unit=x", headers=stranger), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/v1/ab-tests/{tid}/results", headers=stranger), 404, "NOT_FOUND")
    assert_error(post(client, stranger, tid, {"windows": [_window("control", 120_000)]}), 404, "NOT_FOUND")
    reader_id, reader = users.create("rhea", "writer")
    grant(client, auth, reader_id, model["id"], "READ")
    reader_h = bearer(reader)
    assert client.get(f"/api/v1/ab-tests/{tid}/assign?unit=x", headers=reader_h).status_code == 200
    assert_error(
        post(client, reader_h, tid, {"windows": [_window("control", 120_000)]}), 403, "PERMISSION_DENIED"
    )
    arms = client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth).json["arms"]
    assert [a["n"] for a in arms] == [200, 200]  # nothing the refused posts carried was written


def test_results_follow_new_data_and_windows_replace(client: Any, auth: dict[str, str], model: Any) -> None:
    t = new_test(client, auth)
    tid = t["id"]
    seen = []
    steps = [[_window("control", 0), _window("challenger", 0)], [_window("challenger", 60_000, n=20)],
             [_window("control", 120_000, n=50)]]  # fmt: skip
    for windows in steps:
        assert post(client, auth, tid, {"windows": windows}).status_code == 200
        for _ in range(2):  # the second look is answered from the cache: the same numbers
            r = client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth)
            seen.append([a["n"] for a in r.json["arms"]])
    assert seen == [[100, 100], [100, 100], [100, 120], [100, 120], [150, 120], [150, 120]]
    post(client, auth, tid, {"windows": [_window("control", 0, n=90, k=1)]})  # a re-post replaces
    r = client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth).json
    assert [a["n"] for a in r["arms"]] == [140, 120] and [a["events"] for a in r["arms"]] == [11, 20]
    assert [p["arms"]["challenger"]["n_control"] for p in r["history"]] == [90, 90, 140]


def test_statements_per_hot_request(client: Any, app: Any, auth: dict[str, str], model: Any) -> None:
    from tether_server.models.abtests import ABOutcomeWindow
    from tether_server.runtime import Runtime

    t = new_test(client, auth, guardrails=[{"metric": "lat", "direction": "lower", "margin": 1}])
    tid = t["id"]
    body = {"windows": [_window("control", 0), _window("challenger", 0),
                        {"arm": "control", "metric": "lat", "window_start": 0, "n": 2, "sum": 3.0, "sum_sq": 5.0}]}  # fmt: skip
    post(client, auth, tid, body)  # warms the cache (the ordinary path)
    client.get(f"/api/v1/ab-tests/{tid}/assign?unit=w", headers=auth)
    client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth)
    with _statements(app) as seen:
        r = client.get(f"/api/v1/ab-tests/{tid}/assign?unit=someone", headers=auth)
    # none: the warm-up's permission-filtered stamp is trusted for TETHER_AUTH_CACHE_SECONDS (see
    # test_serving_ttl for the period and what ends it)
    assert r.status_code == 200 and seen == [], seen
    with _statements(app) as seen:
        r = post(client, auth, tid, {"windows": [_window("control", 60_000), _window("challenger", 60_000)]})
    assert r.status_code == 200 and r.json["accepted"] == {"windows": 2, "rows": 0}
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("INSERT"), seen
    client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth)
    with _statements(app) as seen:
        r = client.get(f"/api/v1/ab-tests/{tid}/results", headers=auth)
    assert r.status_code == 200 and len(seen) == 2, seen  # the stamp and one UNION ALL of aggregates
    assert [a["n"] for a in r.json["arms"]] == [200, 200]
    assert [g["n"] for g in r.json["arms"][1]["guardrails"]] == [[2, 0]]
    with Runtime.of(app).database.session(write=False) as s:
        assert (
            s.scalar(select(func.count()).select_from(ABOutcomeWindow).where(ABOutcomeWindow.test_id == tid))
            == 5
        )
