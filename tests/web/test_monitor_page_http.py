"""The monitor page over HTTP: login required, HTML names its script and CSRF token, the JSON twin
names the REST resources the page reads, a bad range is a 400 JSON error."""

from __future__ import annotations

import pytest

from .test_pages_http import HTML, JSON, login, people, settings_overrides  # noqa: F401


def test_monitor_page_html_and_twin(app, people):  # noqa: F811
    anon = app.test_client()
    r = anon.get("/monitors/5", headers=HTML)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    c = login(app, "vic")
    html = c.get("/monitors/5", headers=HTML).get_data(as_text=True)
    assert 'data-monitor-id="5"' in html and "js/monitor.js" in html
    assert '<meta name="csrf-token" content="' in html and "<script>" not in html and " style=" not in html
    twin = c.get("/monitors/5", headers=JSON).get_json()
    assert twin["monitor_id"] == 5 and twin["days"] == 7
    assert twin["resources"]["drift"] == "/api/v1/monitors/5/drift"
    assert twin["resources"]["alerts"] == "/api/v1/alerts?monitor=5"
    assert c.get("/monitors/5?days=30&format=json").get_json()["days"] == 30


@pytest.mark.parametrize("days", ["0", "91", "x"])
def test_bad_range_is_a_400(app, people, days):  # noqa: F811
    c = login(app, "vic")
    r = c.get(f"/monitors/5?days={days}", headers=JSON)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "INVALID_ARGUMENT"
