"""``transitions.count_decidable`` (the reviewers' nav badge) counts exactly the pending requests
``can_decide`` allows among those the caller can read, in one query, on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from tests.conftest import bearer
from tests.registry.helpers import create_model, grant, register, request_stage, reviewer, training_run
from tether_server.models import User
from tether_server.runtime import Runtime
from tether_server.services.identity.users import principal_of
from tether_server.services.registry import transitions


def _counts(app: Any) -> dict[str, int]:
    db = Runtime.of(app).database
    statements: list[str] = []

    def listen(*a: Any) -> None:
        statements.append(a[2])

    out = {}
    with db.session() as s:
        for user in s.scalars(select(User)):
            me = principal_of(user)
            readable, _ = transitions.list_requests(s, me, status="pending", max_results=1000)
            expected = sum(transitions.can_decide(s, me, r) for r in readable)
            statements.clear()
            event.listen(db.engine, "before_cursor_execute", listen)
            try:
                got = transitions.count_decidable(s, me)
            finally:
                event.remove(db.engine, "before_cursor_execute", listen)
            assert got == expected, (user.name, got, expected)
            assert len(statements) == (1 if me.has_role("reviewer") else 0), statements
            out[user.name] = got
    return out


def test_count_matches_the_four_eyes_rule(app, client, auth, users, admin_token, backend):
    run = training_run(client, auth)
    churn, fraud = create_model(client, auth, "churn"), create_model(client, auth, "fraud")
    for name in ("churn", "churn", "fraud"):
        register(client, auth, name, run)
    rita_id, rita = reviewer(users, "rita")
    rob_id, rob = reviewer(users, "rob")
    grant(client, auth, rita_id, churn["id"], "EDIT")  # rita reads churn only
    grant(client, auth, rob_id, churn["id"], "READ")
    grant(client, auth, rob_id, fraud["id"], "READ")
    r = client.put(
        "/api/v1/models/fraud/policy",
        headers=bearer(admin_token),
        json={"required_approvals": {"Production": 2}},
    )
    assert r.status_code == 200, r.json
    assert _counts(app) == {"wendy": 0, "root": 0, "rita": 0, "rob": 0}
    request_stage(client, auth, "churn", 1, "Production")
    fraud_req = request_stage(client, auth, "fraud", 1, "Production")
    assert _counts(app) == {"wendy": 0, "root": 2, "rita": 1, "rob": 2}
    # Rita's own request waits for the others only.
    request_stage(client, rita, "churn", 2, "Production")
    assert _counts(app) == {"wendy": 0, "root": 3, "rita": 1, "rob": 3}
    # Two approvals needed: after rob's, the request stays pending, but no longer for rob.
    r = client.post(
        f"/api/v1/transition-requests/{fraud_req['id']}/approve", json={"comment": "1/2"}, headers=rob
    )
    assert r.status_code == 200 and r.json["status"] == "pending", r.json
    assert _counts(app) == {"wendy": 0, "root": 3, "rita": 1, "rob": 2}
    # Decided requests leave every count.
    r = client.post(
        f"/api/v1/transition-requests/{fraud_req['id']}/reject",
        json={"comment": "no"},
        headers=bearer(admin_token),
    )
    assert r.status_code == 200 and r.json["status"] == "rejected", r.json
    assert _counts(app) == {"wendy": 0, "root": 2, "rita": 1, "rob": 2}
