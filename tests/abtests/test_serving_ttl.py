"""``GET /assign`` answers from the per-process cache without a statement while the caller's
permission on the test was checked less than ``TETHER_AUTH_CACHE_SECONDS`` ago (the token cache's
period), and never past that: a change committed through this process (a revoked grant, a stopped
test) is seen by the next request, one made by another process (raw SQL here, which tells this
process nothing) once the period has passed, and 0 turns the cache off. Round trips are counted
with a fake clock, nothing is timed. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests.abtests.helpers import new_test
from tests.abtests.test_serving import _statements
from tests.conftest import bearer
from tests.registry.helpers import grant
from tether_server.models.abtests import ABTest
from tether_server.runtime import Runtime


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Any) -> Clock:
    c = Clock()
    Runtime.of(app).abtests.clock = c
    return c


def _assign(client: Any, headers: dict[str, str], tid: int, unit: str = "u1") -> Any:
    return client.get(f"/api/v1/ab-tests/{tid}/assign?unit={unit}", headers=headers)


def test_a_verified_permission_is_trusted_for_the_period_only(
    client: Any, app: Any, auth: dict[str, str], model: Any, users: Any, clock: Clock
) -> None:
    cache = Runtime.of(app).abtests
    assert cache.ttl == 5  # TETHER_AUTH_CACHE_SECONDS' default
    tid = new_test(client, auth)["id"]
    reader_id, token = users.create("rhea", "writer")
    reader = bearer(token)
    assert _assign(client, reader, tid).status_code == 404  # no grant: not even visible
    grant(client, auth, reader_id, model["id"], "READ")
    with _statements(app) as seen:
        first = _assign(client, reader, tid)
    assert first.status_code == 200 and len(seen) >= 1  # checked in SQL
    for unit in ("u1", "u2", "u3"):
        with _statements(app) as seen:
            r = _assign(client, reader, tid, unit)
        assert r.status_code == 200 and seen == [], seen  # from the cache
    assert r.json == _assign(client, auth, tid, "u3").json
    # revoked through this process: the next request checks again
    r = client.delete(f"/api/v1/permissions?user_id={reader_id}&resource_type=model&resource_id={model['id']}",
                      headers=auth)  # fmt: skip
    assert r.status_code == 204, r.json
    assert _assign(client, reader, tid).status_code == 404
    # a change by another process: served from the cache until the period has passed
    grant(client, auth, reader_id, model["id"], "READ")
    before = _assign(client, reader, tid, "u2").json
    with Runtime.of(app).database.engine.begin() as conn:  # no commit signal reaches the cache
        conn.execute(
            update(ABTest).where(ABTest.id == tid).values(status="stopped", updated_at=ABTest.updated_at + 1)
        )
    clock.now += 4.9
    assert _assign(client, reader, tid, "u2").json == before
    clock.now += 0.2
    after = _assign(client, reader, tid, "u2").json
    assert after["active"] is False and after["arm"] == "control"
    assert after["assigned_arm"] == before["assigned_arm"]


def test_a_stop_through_this_process_is_seen_at_once(
    client: Any, app: Any, auth: dict[str, str], model: Any, clock: Clock
) -> None:
    tid = new_test(client, auth)["id"]
    units = [f"u{i}" for i in range(30)]
    before = [_assign(client, auth, tid, u).json for u in units]
    assert {b["arm"] for b in before} == {"control", "challenger"}
    r = client.patch(f"/api/v1/ab-tests/{tid}", headers=auth, json={"status": "stopped"})
    assert r.status_code == 200
    assert all(_assign(client, auth, tid, u).json["arm"] == "control" for u in units)


@pytest.mark.parametrize("settings_overrides", [{"auth_cache_seconds": 0}])
def test_zero_turns_the_cache_off(client: Any, app: Any, auth: dict[str, str], model: Any) -> None:
    tid = new_test(client, auth)["id"]
    _assign(client, auth, tid)
    for unit in ("a", "b"):
        with _statements(app) as seen:
            r = _assign(client, auth, tid, unit)
        # the token's lookup (that cache is off too) and the permission-filtered stamp
        assert r.status_code == 200 and len(seen) == 2 and "FROM ab_tests" in seen[1], seen
