"""The navigation bar tells a reviewer how many transition requests wait for their decision: the
four-eyes rule of ``transitions.decision_refusal``, counted in one query."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.registry.helpers import create_model, register
from tests.web.seed import model_with_production
from tether_server.models import User
from tether_server.models.registry import TransitionRequest
from tether_server.runtime import Runtime
from tether_server.services.identity.users import principal_of
from tether_server.services.registry import transitions

from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def _badge(tab: Any) -> str | None:
    tab.go("/models")
    badge = tab.page.locator("#nav-reviews #reviews-waiting")
    return badge.inner_text() if badge.count() else None


def _oracle_matches_count(app: Any) -> dict[str, int]:
    """For every user: count_decidable equals the requests can_decide allows, in one statement."""
    out = {}
    engine = Runtime.of(app).database.engine
    statements: list[str] = []

    def listen(*a: Any) -> None:
        statements.append(a[2])

    with Runtime.of(app).database.session() as s:
        reqs = list(s.scalars(select(TransitionRequest)))
        for user in s.scalars(select(User)):
            me = principal_of(user, via="session", default_level="READ")
            expected = sum(transitions.can_decide(s, me, r) for r in reqs)
            statements.clear()
            event.listen(engine, "before_cursor_execute", listen)
            try:
                got = transitions.count_decidable(s, me)
            finally:
                event.remove(engine, "before_cursor_execute", listen)
            assert got == expected, (user.name, got, expected)
            assert len(statements) <= 1, statements
            out[user.name] = got
    return out


def test_reviewer_sees_how_many_requests_wait_for_them(app, client, people, users, tab, second_tab):
    seeded = model_with_production(app, client, people["writer"], people["reviewer"])
    create_model(client, people["writer"]["headers"], "fraud")
    for run in (seeded["run1"], seeded["run2"]):
        register(client, people["writer"]["headers"], "fraud", run)
    users.create("rob", "reviewer", PASSWORD)
    h = people["writer"]["headers"]
    for name in ("churn", "fraud"):
        r = client.post(
            f"/api/v1/models/{name}/versions/2/transition-requests",
            headers=h,
            json={"to_stage": "Production", "comment": "better"},
        )
        assert r.status_code == 201, r.json
    assert _oracle_matches_count(app) == {"wendy": 0, "rita": 2, "ada": 2, "rob": 2}
    tab.login("rita", PASSWORD)
    assert _badge(tab) == "2"
    label = tab.page.locator("#nav-reviews").get_attribute("aria-label")
    assert label == "Reviews, 2 waiting for you"
    tab.shot("nav_reviews_badge")
    # The writer who asked sees no badge (they cannot decide their own requests).
    second_tab.login("wendy", PASSWORD)
    assert _badge(second_tab) is None
    second_tab.shot("nav_no_badge_writer")
    # Rita approves one: it leaves her count (and everyone's: it is no longer pending).
    pending = client.get("/api/v1/transition-requests?status=pending", headers=h).json["items"]
    r = client.post(
        f"/api/v1/transition-requests/{pending[0]['id']}/approve",
        headers=people["reviewer"]["headers"],
        json={"comment": "ok"},
    )
    assert r.status_code == 200, r.json
    assert _badge(tab) == "1"
    # A request made by a reviewer waits for the others, not for her; two approvals needed means one
    # approval leaves it pending but not for the reviewer who already approved.
    fraud_id = client.get("/api/v1/models/fraud", headers=h).json["id"]
    grant = {"user_id": people["reviewer"]["id"], "resource_type": "model", "resource_id": str(fraud_id)}
    r = client.put("/api/v1/permissions", headers=people["admin"]["headers"], json={**grant, "level": "EDIT"})
    assert r.status_code in (200, 201), r.json
    r = client.put(
        "/api/v1/models/fraud/policy",
        headers=people["admin"]["headers"],
        json={"required_approvals": {"Staging": 2}},
    )
    assert r.status_code == 200, r.json
    r = client.post(
        "/api/v1/models/fraud/versions/1/transition-requests",
        headers=people["reviewer"]["headers"],
        json={"to_stage": "Staging", "comment": "mine"},
    )
    assert r.status_code == 201, r.json
    assert _badge(tab) == "1"
    counts = _oracle_matches_count(app)
    assert counts["rob"] == 2 and counts["rita"] == 1 and counts["ada"] == 2
    rob = users.create("robin", "reviewer", PASSWORD)[1]
    r = client.post(
        f"/api/v1/transition-requests/{r.json['id']}/approve",
        headers={"Authorization": f"Bearer {rob}"},
        json={"comment": "one of two"},
    )
    assert r.status_code == 200 and r.json["status"] == "pending", r.json
    counts = _oracle_matches_count(app)
    assert counts["robin"] == 1 and counts["rob"] == 2
    # The badge opens "Waiting for me": exactly the requests it counts (not rita's own).
    tab.go("/models")
    tab.page.click("#nav-reviews")
    tab.page.wait_for_url(re.compile(r"/reviews\?for=me$"))
    rows = tab.page.locator("#requests tbody tr[data-request-id]")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "fraud" in text and "Production" in text and "Staging" not in text  # wendy's, not rita's own
    assert tab.page.locator("#waiting-for-me").get_attribute("aria-current") == "page"
    tab.shot("reviews_waiting_for_me")
    second_tab.go("/reviews?for=me")
    assert "Nothing waits for your decision" in second_tab.page.inner_text("#requests")
    assert second_tab.page.locator("#waiting-for-me").count() == 0
    assert tab.errors == []
