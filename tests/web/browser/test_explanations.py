"""Explanations in the browser: the model card on the version page (rendered, edited, downloaded)
and the explanation comparison on the review page with the large change highlighted."""

from __future__ import annotations

import pytest

from tests.web.seed import model_with_production

pytestmark = pytest.mark.browser

PROD = {f"f{i:02d}": float(20 - i) for i in range(20)}
# the candidate keeps 3 of the production top 10
ORDER = [0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 3, 4, 5, 6, 7, 8, 9, 17, 18, 19]
CAND = {f"f{i:02d}": float(20 - rank) for rank, i in enumerate(ORDER)}


def _explain(client, headers, v, imp, method):
    r = client.put(
        f"/api/v1/models/churn/versions/{v}/explanation",
        json={"importances": imp, "method": method},
        headers=headers,
    )
    assert r.status_code == 200, r.json


def test_model_card_renders_and_is_editable(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    _explain(client, people["writer"]["headers"], 1, PROD, "shap")  # Production without one: once
    tab.login("wendy", "correct-horse-battery")
    tab.go("/models/churn/versions/1")
    card = tab.page.locator("#model-card")
    assert "churn-data" in card.locator("#card-datasets").inner_text()
    assert "auc" in card.inner_text()
    assert "shap; 20 features" in tab.page.inner_text("#card-explanation-method")
    assert tab.page.locator("#card-top-features tbody tr").count() == 10
    approvals = tab.page.inner_text("#card-approvals")
    assert "rita" in approvals and "transition approved" in approvals and "ok for v1" in approvals
    assert "intended use" in tab.page.inner_text("#card-questions")
    tab.page.click("#card-edit summary")
    tab.page.fill("#card-edit textarea[name=intended_use]", "Rank <b>customers</b> by churn risk.")
    tab.page.fill("#card-edit textarea[name=limitations]", "Not for pricing.")
    tab.page.click("#card-edit button[type=submit]")
    tab.page.wait_for_load_state()
    assert tab.page.inner_text("#card-intended-use") == "Rank <b>customers</b> by churn risk."  # escaped text
    assert tab.page.inner_text("#card-limitations") == "Not for pricing."
    tab.shot("model_card")
    md = tab.page.request.get(tab.base + "/api/v1/models/churn/versions/1/card?format=md")
    assert md.status == 200 and "Rank <b>customers</b>" in md.text() and "| churn-data |" in md.text()
    text = md.text()  # the version's metrics and approvals are in the Markdown too
    assert "| auc |" in text and "| transition approved | rita |" in text and "ok for v1" in text
    # in Production, no monitor: the card says so instead of claiming all is well
    assert tab.page.get_attribute("#card-monitoring", "data-status") == "not_monitored"
    assert "no monitor watches it" in tab.page.inner_text("#card-monitoring")
    assert tab.errors == []


def test_review_page_highlights_a_large_explanation_change(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    _explain(client, people["writer"]["headers"], 1, PROD, "shap")
    _explain(client, people["writer"]["headers"], 2, CAND, "shap")
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=people["writer"]["headers"],
        json={"to_stage": "Production", "comment": "v2"},
    )
    assert r.status_code == 201
    tab.login("rita", "correct-horse-battery")
    tab.go(f"/reviews/{r.json['id']}")
    warn = tab.page.locator("#explanation-large-change")
    assert warn.is_visible() and "30%" in warn.inner_text()
    assert tab.page.inner_text("#explanation-overlap") == "30%"
    assert tab.page.inner_text("#explanation-entered") == ", ".join(f"f{i}" for i in range(10, 17))
    assert tab.page.locator("#explanation-ranks tr.rank-moved").count() == 14
    bg = warn.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg != "rgba(0, 0, 0, 0)"  # styled from app.css (no inline style under the CSP)
    tab.shot("review_explanation_change")
    assert tab.errors == []
