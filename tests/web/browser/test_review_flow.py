"""The promotion review in the browser: a reviewer approves a writer's request; the writer cannot."""

from __future__ import annotations

import re

import pytest

from tests.web.seed import model_with_production

pytestmark = pytest.mark.browser


def _request_v2(client, people) -> int:
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=people["writer"]["headers"],
        json={"to_stage": "Production", "comment": "v2 beats v1 on auc"},
    )
    assert r.status_code == 201 and r.json["status"] == "pending", r.json
    return r.json["id"]


def test_reviewer_approves_writers_request(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    req_id = _request_v2(client, people)
    tab.login("rita", "correct-horse-battery")
    tab.go("/reviews")
    row = tab.page.locator(f"#requests tr[data-request-id='{req_id}']")
    assert "v2 beats v1 on auc" in row.inner_text()
    tab.shot("reviews_pending")
    row.locator("a").first.click()
    tab.page.wait_for_url(re.compile(rf"/reviews/{req_id}$"))
    # What the reviewer needs to decide: metrics side by side, datasets and whether they changed, the run.
    assert "Production v1" in tab.page.inner_text("#metric-compare")
    assert "auc" in tab.page.inner_text("#metric-compare")
    assert "changed" in tab.page.inner_text("#data-changed")
    assert tab.page.locator("#source-run").get_attribute("href").startswith("/runs/")
    tab.shot("review_page")
    # The comment is mandatory: submitting without one is blocked by the form.
    tab.page.click("#approve")
    assert tab.page.url.endswith(f"/reviews/{req_id}")
    assert tab.page.locator("#request-status").inner_text() == "pending"
    tab.page.fill("#comment", "Looks good: auc up, data change reviewed")
    tab.page.click("#approve")
    tab.page.wait_for_load_state()
    assert tab.page.locator("#request-status").inner_text() == "approved"
    assert "Production" in tab.page.inner_text("#candidate-stage")
    audit_text = tab.page.inner_text("#audit")
    assert "model.transition_approved" in audit_text and "model.stage_changed" in audit_text
    assert "Looks good: auc up, data change reviewed" in audit_text
    assert tab.page.locator("#decision-form").count() == 0
    tab.shot("review_approved")
    # The model page shows the stage change; the audit page shows the entry.
    tab.go("/models/churn")
    assert "Production" in tab.page.inner_text("#versions tr[data-version='2'] .stage")
    assert "Archived" in tab.page.inner_text("#versions tr[data-version='1'] .stage")
    tab.go("/audit?model=churn&action=model.transition_approved")
    text = tab.page.inner_text("#audit")
    assert "rita" in text and "Looks good: auc up, data change reviewed" in text
    tab.shot("audit_trail")
    assert tab.dialogs == [] and tab.errors == []


def test_writer_sees_no_buttons_and_forged_post_is_refused(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    req_id = _request_v2(client, people)
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/reviews/{req_id}")
    assert tab.page.locator("#approve").count() == 0 and tab.page.locator("#reject").count() == 0
    assert "another reviewer" in tab.page.inner_text("#no-decision")
    tab.shot("review_as_requester")
    # A forged POST from the writer's logged-in session, with a valid CSRF token, is still refused...
    csrf = tab.page.locator("form.logout input[name=csrf_token]").get_attribute("value")
    resp = tab.page.request.post(
        f"{tab.base}/reviews/{req_id}/decision",
        form={"csrf_token": csrf, "decision": "approve", "comment": "self-approve"},
    )
    assert resp.status == 403
    # ... and so is one without the token, and the API route.
    resp = tab.page.request.post(
        f"{tab.base}/reviews/{req_id}/decision", form={"decision": "approve", "comment": "x"}
    )
    assert resp.status == 403
    resp = tab.page.request.post(
        f"{tab.base}/api/v1/transition-requests/{req_id}/approve",
        data={"comment": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 403
    r = client.get(f"/api/v1/transition-requests/{req_id}", headers=people["writer"]["headers"])
    assert r.json["status"] == "pending" and r.json["approvals"] == []
    r = client.get("/api/v1/models/churn/versions/2", headers=people["writer"]["headers"])
    assert r.json["stage"] == "None"


def test_requester_who_is_a_reviewer_gets_no_buttons_and_the_server_refuses(app, client, people, users, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    model_id = client.get("/api/v1/models/churn", headers=people["writer"]["headers"]).json["id"]
    r = client.put(
        "/api/v1/permissions",
        headers=people["writer"]["headers"],
        json={
            "user_id": people["reviewer"]["id"],
            "resource_type": "model",
            "resource_id": str(model_id),
            "level": "EDIT",
        },
    )
    assert r.status_code in (200, 201), r.json
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=people["reviewer"]["headers"],
        json={"to_stage": "Production", "comment": "mine"},
    )
    assert r.status_code == 201, r.json
    req_id = r.json["id"]
    tab.login("rita", "correct-horse-battery")
    tab.go(f"/reviews/{req_id}")
    assert tab.page.locator("#approve").count() == 0
    csrf = tab.page.locator("form.logout input[name=csrf_token]").get_attribute("value")
    resp = tab.page.request.post(
        f"{tab.base}/reviews/{req_id}/decision",
        form={"csrf_token": csrf, "decision": "approve", "comment": "four eyes?"},
    )
    assert resp.status == 403
    assert "four-eyes" in resp.text()
