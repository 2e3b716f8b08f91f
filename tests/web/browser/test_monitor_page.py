"""The monitor page and the model page's monitor panel in Chromium.

``test_monitor_page_against_the_real_api`` runs end to end: a monitor seeded through the REST API,
raw rows, a real evaluator pass, the page, its histogram and an alert acknowledged through the page.
The other tests answer the monitoring routes with ``page.route`` from a seeded 48-window scenario in
the contract's shapes (the same shapes the server answers: /performance with ``baseline``,
/histogram with parallel ``buckets``/``reference``/``window``), which exercises version markers and
long trends that would take many windows of real data to build. Everything else (login, the page,
its CSP, the CSRF token, the model page) is the real server with seeded data.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.web.seed import model_with_production

pytestmark = pytest.mark.browser

H = 3_600_000
COLS = ["age", "balance", "plan", "tenure", "score"]


def scenario(now_ms: int, n_windows: int = 48) -> dict[str, Any]:
    """48 hourly windows; ``balance`` drifts after window 30, where the live version changes to v2."""
    rng = random.Random(7)
    start = (now_ms - now_ms % H) - (n_windows - 1) * H
    windows = []
    for i in range(n_windows):
        cols = {}
        for c in COLS:
            psi = abs(rng.gauss(0.02, 0.01)) + (0.25 + 0.01 * i if c == "balance" and i >= 30 else 0.0)
            status = "alert" if psi >= 0.2 else "warn" if psi >= 0.1 else "ok"
            cols[c] = {
                "psi": psi,
                "js": psi / 3,
                "ks": psi / 2,
                "wasserstein": psi,
                "n": 2000,
                "status": status,
            }
        windows.append(
            {
                "window_start": start + i * H,
                "partial": i == n_windows - 1,
                "n": 2000,
                "model_version": 1 if i < 30 else 2,
                "reference_id": 1 if i < 30 else 2,
                "columns": cols,
                "dataset": {"status": "ok", "drifted_share": 0.2 if i >= 30 else 0.0},
            }
        )
    perf = [
        {
            "window_start": w["window_start"],
            "value": 0.9 - (0.08 if i >= 40 else 0) + rng.gauss(0, 0.005),
            "bound": 0.92 - (0.08 if i >= 40 else 0),
            "baseline": 0.9,
            "n": 1000,
            "status": "alert" if i >= 41 else "ok",
        }
        for i, w in enumerate(windows)
    ]
    alerts = [
        {
            "id": 11,
            "kind": "monitor",
            "monitor_id": 5,
            "rule": "drift",
            "column": "balance",
            "severity": "alert",
            "status": "open",
            "message": "balance drifted: PSI 0.55 (alert >= 0.2) since window 30",
            "first_window": windows[30]["window_start"],
            "opened_at": now_ms,
        },
        {
            "id": 12,
            "kind": "monitor",
            "monitor_id": 5,
            "rule": "decay",
            "column": None,
            "severity": "alert",
            "status": "open",
            "message": "auc 0.82 below baseline 0.90 for 2 windows",
            "first_window": windows[40]["window_start"],
            "opened_at": now_ms,
        },
    ]
    return {"windows": windows, "performance": perf, "alerts": alerts}


class FakeMonitoringAPI:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.posts: list[dict[str, Any]] = []

    def install(self, page: Any) -> None:
        page.route("**/api/v1/monitors**", self.handle)
        page.route("**/api/v1/alerts**", self.handle)

    def handle(self, route: Any) -> None:
        req = route.request
        url = req.url.split("/api/v1", 1)[1]
        path = url.split("?", 1)[0]
        if req.method == "POST" and path.startswith("/alerts/"):
            _, _, aid, action = path.split("/")
            self.posts.append(
                {
                    "id": int(aid),
                    "action": action,
                    "csrf": req.headers.get("x-csrf-token"),
                    "body": json.loads(req.post_data or "{}"),
                }
            )
            for a in self.data["alerts"]:
                if a["id"] == int(aid):
                    a["status"] = "acknowledged" if action == "acknowledge" else "resolved"
                    return self.reply(route, a)
        if path == "/monitors":
            return self.reply(
                route,
                {
                    "items": [{"id": 5, "name": "churn-prod", "model": "churn", "stage": "Production"}],
                    "next_page_token": None,
                },
            )
        if path == "/monitors/5":
            return self.reply(
                route,
                {
                    "id": 5,
                    "name": "churn-prod",
                    "model": "churn",
                    "stage": "Production",
                    "window_seconds": 3600,
                    "metric": "auc",
                    "thresholds": {},
                },
            )
        if path == "/monitors/5/drift":
            return self.reply(route, {"windows": self.data["windows"]})
        if path == "/monitors/5/performance":
            return self.reply(route, {"metric": "auc", "baseline": 0.9, "windows": self.data["performance"]})
        if path.startswith("/monitors/5/windows/") and path.endswith("/histogram"):
            return self.reply(
                route,
                {
                    "column": "balance",
                    "buckets": ["<1k", "1k-2k", "2k-5k", ">5k", "null"],
                    "reference": [0.25, 0.25, 0.25, 0.2, 0.05],
                    "window": [0.05, 0.15, 0.3, 0.45, 0.05],
                },
            )
        if path == "/alerts":
            return self.reply(
                route,
                {
                    "items": [a for a in self.data["alerts"] if a["status"] != "resolved"],
                    "next_page_token": None,
                },
            )
        route.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps({"error": {"code": "NOT_FOUND", "message": "no route", "details": {}}}),
        )

    @staticmethod
    def reply(route: Any, body: Any) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


def test_monitor_page_heatmap_histogram_trends_and_alerts(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    now = tab.page.evaluate("() => Date.now()")
    api = FakeMonitoringAPI(scenario(now))
    api.install(tab.page)
    tab.login("rita", "correct-horse-battery")
    tab.go("/monitors/5")
    tab.page.wait_for_selector("#monitor[data-ready='1']")
    assert tab.page.inner_text("#monitor-title") == "churn-prod"
    assert "48 windows × 5 columns" in tab.page.inner_text("#monitor-summary")
    # Heatmap: one cell per window and column, coloured by status; balance alerts from window 30 on.
    assert tab.page.locator("#heatmap .hm-cell[data-column]").count() == 48 * 5
    balance = tab.page.locator("#heatmap .hm-cell[data-column='balance']")
    statuses = [balance.nth(i).get_attribute("data-status") for i in range(48)]
    assert statuses[:30] == ["ok"] * 30 and statuses[30:] == ["alert"] * 18
    assert tab.page.locator("#heatmap .hm-cell.st-alert[data-column='age']").count() == 0
    assert tab.page.locator("#heatmap .hm-version.changed").count() == 1
    assert "v1 → v2" in tab.page.inner_text("#versions")
    # Clicking a cell shows reference vs window histograms for that column and window.
    balance.nth(40).click()
    tab.page.wait_for_selector("#histogram-chart canvas")
    assert tab.page.inner_text("#histogram-title").startswith("balance · window ")
    assert "PSI 0.6" in tab.page.inner_text("#histogram-stats")
    rows = tab.page.locator("#histogram-chart table.histogram-table tr")
    assert rows.count() == 6 and "0.450" in rows.nth(4).inner_text()
    # Trends: PSI with 5 columns (+ warn/alert lines), performance with baseline and band.
    assert tab.page.get_attribute("#psi-chart", "data-series") == "5"
    assert tab.page.locator("#psi-chart canvas").count() == 1
    assert "warn 0.1" in tab.page.inner_text("#psi-chart") and "alert 0.2" in tab.page.inner_text(
        "#psi-chart"
    )
    assert tab.page.get_attribute("#perf-chart", "data-points") == "48"
    assert "baseline 0.900" in tab.page.inner_text("#perf-note")
    tab.shot("monitor_page")
    # Alerts: acknowledge with a comment, then resolve; both carry the page's CSRF token.
    row = tab.page.locator("#alerts tr[data-alert-id='11']")
    assert "balance drifted" in row.inner_text()
    row.locator("input[name=comment]").fill("looking into the new plan pricing")
    row.locator("button.alert-acknowledge").click()
    tab.page.wait_for_selector("#alerts tr[data-alert-id='11'] >> text=acknowledged")
    tab.page.locator("#alerts tr[data-alert-id='11'] button.alert-resolve").click()
    tab.page.wait_for_selector("#alerts tr[data-alert-id='11']", state="detached")
    csrf = tab.page.get_attribute("meta[name=csrf-token]", "content")
    assert [(p["id"], p["action"]) for p in api.posts] == [(11, "acknowledge"), (11, "resolve")]
    assert all(p["csrf"] == csrf and csrf for p in api.posts)
    assert api.posts[0]["body"] == {"comment": "looking into the new plan pricing"}
    assert tab.errors == [] and tab.dialogs == []


def test_monitor_page_shows_api_errors(app, people, tab):
    tab.login("rita", "correct-horse-battery")
    tab.page.route(
        "**/api/v1/monitors/9**",
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps(
                {"error": {"code": "NOT_FOUND", "message": "Monitor 9 not found", "details": {}}}
            ),
        ),
    )
    tab.go("/monitors/9")
    tab.page.wait_for_selector("#monitor[data-ready='error']")
    assert tab.page.inner_text("#monitor-error") == "Monitor 9 not found"


def test_model_page_lists_monitors_with_status(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    FakeMonitoringAPI(scenario(0)).install(tab.page)
    tab.login("rita", "correct-horse-battery")
    tab.go("/models/churn")
    tab.page.wait_for_selector("#monitors:not([hidden]) li[data-monitor-id='5']")
    li = tab.page.locator("#monitors li[data-monitor-id='5']")
    assert li.locator(".monitor-status").inner_text() == "alert"
    assert "2 open alerts" in li.inner_text()
    li.locator("a").click()
    tab.page.wait_for_url("**/monitors/5")
    tab.shot("model_page_monitors")


def test_review_page_shows_production_drift_and_performance(app, client, people, tab):
    model_with_production(app, client, people["writer"], people["reviewer"])
    r = client.post(
        "/api/v1/models/churn/versions/2/transition-requests",
        headers=people["writer"]["headers"],
        json={"to_stage": "Production", "comment": "v2"},
    )
    assert r.status_code == 201, r.json
    FakeMonitoringAPI(scenario(tab.page.evaluate("() => Date.now()"))).install(tab.page)
    tab.login("rita", "correct-horse-battery")
    tab.go(f"/reviews/{r.json['id']}")
    row = tab.page.locator("#prod-monitoring:not([hidden]) tr[data-monitor-id='5']")
    row.wait_for()
    text = row.inner_text()
    assert "balance" in text and "auc" in text and "0.900" in text
    assert row.locator("td[data-status]").get_attribute("data-status") == "ok"
    tab.shot("review_production_monitoring")
    assert tab.errors == []


# ---------------------------------------------------------------- the real API, end to end


def test_monitor_page_against_the_real_api(app, client, people, tab):
    """No page.route: a monitor seeded through the REST API with two windows of raw rows (the second
    drifted), one evaluator pass, then the page, its histogram and the alert round trip are real."""
    import numpy as np

    from tests.monitoring.helpers import HOUR, create_monitor, production_model, production_rows
    from tests.monitoring.test_api import _evaluate

    writer = people["writer"]["headers"]
    production_model(app, client, writer)
    m = create_monitor(client, writer)
    now = tab.page.evaluate("() => Date.now()")
    ws = [now - now % HOUR - 3 * HOUR, now - now % HOUR - 2 * HOUR]
    rng = np.random.default_rng(11)
    for start, shift in zip(ws, (0.0, 1.0), strict=True):
        rows = production_rows(rng, 2000, shift=shift, ts=start)
        r = client.post(f"/api/v1/monitors/{m['id']}/rows", headers=writer, json={"rows": rows})
        assert r.status_code == 200, r.json
    _evaluate(app, now)
    tab.login("rita", "correct-horse-battery")
    # the model page lists the monitor with its worst open alert, from the real routes
    tab.go("/models/churn")
    li = tab.page.locator(f"#monitors:not([hidden]) li[data-monitor-id='{m['id']}']")
    li.wait_for()
    assert li.locator(".monitor-status").inner_text() == "alert"
    tab.go(f"/monitors/{m['id']}")
    tab.page.wait_for_selector("#monitor[data-ready='1']")
    assert tab.page.inner_text("#monitor-title") == "prod"
    assert "2 windows × 3 columns" in tab.page.inner_text("#monitor-summary")
    age = tab.page.locator("#heatmap .hm-cell[data-column='age']")
    assert [age.nth(i).get_attribute("data-status") for i in range(2)] == ["ok", "alert"]
    # the clicked cell's histogram is the server's: 14 numeric buckets (+ the header row)
    age.nth(1).click()
    tab.page.wait_for_selector("#histogram-chart canvas")
    assert tab.page.inner_text("#histogram-title").startswith("age · window ")
    h = client.get(f"/api/v1/monitors/{m['id']}/windows/{ws[1]}/histogram?column=age", headers=writer).json
    assert tab.page.locator("#histogram-chart table.histogram-table tr").count() == len(h["buckets"]) + 1
    # the real drift alert, acknowledged through the page (session cookie + CSRF), is acknowledged
    alert = next(
        a
        for a in client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=writer).json["items"]
        if a["rule"] == "drift" and a["column"] == "age"
    )
    row = tab.page.locator(f"#alerts tr[data-alert-id='{alert['id']}']")
    assert "age" in row.inner_text()
    row.locator("input[name=comment]").fill("new traffic source, checking")
    row.locator("button.alert-acknowledge").click()
    tab.page.wait_for_selector(f"#alerts tr[data-alert-id='{alert['id']}'] >> text=acknowledged")
    got = client.get(f"/api/v1/alerts/{alert['id']}", headers=writer).json
    assert got["status"] == "acknowledged" and "rita" in str(got["acknowledged_by"])
    tab.shot("monitor_page_real_api")
    assert tab.errors == [] and tab.dialogs == []


def test_columns_sorted_by_importance_and_card_status(app, client, people, tab):
    """The live version's explanation orders the heatmap (most important column first, not by name)
    and the version page's model card shows the real monitor and its alert."""
    import numpy as np

    from tests.monitoring.helpers import HOUR, create_monitor, production_model, production_rows
    from tests.monitoring.test_api import _evaluate

    writer = people["writer"]["headers"]
    production_model(app, client, writer)
    imp = {"income": 0.6, "plan": 0.3, "age": 0.1}  # name order would be age, income, plan
    r = client.put(
        "/api/v1/models/churn/versions/1/explanation",
        headers=writer,
        json={"importances": imp, "method": "permutation"},
    )
    assert r.status_code == 200, r.json
    m = create_monitor(client, writer)
    now = tab.page.evaluate("() => Date.now()")
    start = now - now % HOUR - 2 * HOUR
    rows = production_rows(np.random.default_rng(4), 2000, shift=1.0, ts=start)
    assert (
        client.post(f"/api/v1/monitors/{m['id']}/rows", headers=writer, json={"rows": rows}).status_code
        == 200
    )
    _evaluate(app, now)
    tab.login("rita", "correct-horse-battery")
    tab.go(f"/monitors/{m['id']}")
    tab.page.wait_for_selector("#monitor[data-ready='1']")
    labels = tab.page.locator("#heatmap .hm-label:not(.muted)").all_inner_texts()
    assert labels == ["income", "plan", "age"]
    assert "sorted by importance, from the explanation of version 1" in tab.page.inner_text(
        "#monitor-summary"
    )
    tab.go("/models/churn/versions/1")
    box = tab.page.locator("#card-monitoring")
    assert box.get_attribute("data-status") == "alert"
    assert tab.page.locator(f"#card-monitors tr[data-monitor-id='{m['id']}']").inner_text().count("yes") == 1
    assert "age" in tab.page.inner_text("#card-alerts")
    tab.shot("model_card_monitoring")
    assert tab.errors == []
