"""The A/B test page in the browser: shares with the SRM verdict, the interval band over time,
guardrails, plain sentences, the link to the transition request a winner opened, and the evidence
on that request's review page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.abtests.helpers import proportion_windows
from tests.web.seed import model_with_production

pytestmark = pytest.mark.browser


def test_winning_test_page_and_review_evidence(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    h = people["writer"]["headers"]
    assert (
        client.put("/api/v1/models/churn/aliases/challenger", headers=h, json={"version": 2}).status_code
        < 300
    )
    r = client.post("/api/v1/ab-tests", headers=h, json={
        "model": "churn", "name": "checkout", "control": "Production", "treatments": ["challenger"],
        "traffic": [0.5, 0.5], "metric": "conversion", "metric_type": "proportion",
        "guardrails": [{"metric": "latency_ms", "metric_type": "mean", "direction": "lower", "margin": 5}]})  # fmt: skip
    assert r.status_code == 201, r.json
    tid = r.json["id"]
    rng = np.random.default_rng(11)
    for k in range(6):  # six hourly windows: the band narrows and leaves 0
        ws = proportion_windows(
            rng, [3000, 3000], [0.10, 0.13], ["control", "challenger"], 3_600_000 * (k + 1)
        )
        for arm in ("control", "challenger"):
            y = rng.normal(100.0, 10.0, 3000)
            ws.append({"arm": arm, "metric": "latency_ms", "window_start": 3_600_000 * (k + 1), "n": 3000,
                       "sum": float(y.sum()), "sum_sq": float(y @ y)})  # fmt: skip
        assert (
            client.post(f"/api/v1/ab-tests/{tid}/outcomes", headers=h, json={"windows": ws}).status_code
            == 200
        )
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/ab-tests/{tid}")
    tab.page.wait_for_selector("#ab-chart .uplot")
    assert tab.page.locator("#ab-chart").get_attribute("data-points") == "6"
    assert tab.page.inner_text("#ab-state") == "treatment_better"
    assert "consistent with the plan" in tab.page.inner_text("#ab-srm")
    assert "50.0%" in tab.page.inner_text("#ab-shares")
    assert "holds" in tab.page.inner_text("#arm-1 .guardrail")
    assert "however often anyone looks" in tab.page.inner_text("#arm-1")
    link = tab.page.locator("#ab-transition")
    tab.shot("abtest_page")
    link.click()
    tab.page.wait_for_url(re.compile(r"/reviews/\d+$"))
    ev = tab.page.inner_text("#abtest-evidence")
    assert "checkout" in ev and "Evidence" in ev and "latency_ms" in ev
    assert tab.page.locator("#request-status").inner_text() == "pending"
    tab.shot("abtest_review_evidence")
