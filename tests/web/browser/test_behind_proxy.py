"""The UI in Chromium behind a reverse proxy at /tether (TETHER_PUBLIC_URL): login redirect, cookie,
navigation, charts (their fetches), compare and the lineage graph's click-through all stay under
the prefix; the proxy refuses anything outside it, so a missed link fails loudly."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.cicd.reverse_proxy import ReverseProxy, free_port
from tests.web.browser.conftest import open_tab
from tests.web.seed import experiment_with_runs, model_with_production

pytestmark = pytest.mark.browser

PORT = free_port()
PUBLIC = f"http://127.0.0.1:{PORT}/tether"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"default_permission": "READ", "public_url": PUBLIC, "trusted_proxies": 1}


@pytest.fixture
def proxied_tab(chromium: Any, live_server: str):
    proxy = ReverseProxy(live_server, "/tether", port=PORT)
    with open_tab(chromium, PUBLIC) as tab:
        yield tab, proxy
    proxy.close()


def test_ui_works_under_the_prefix(app, client, people, proxied_tab):
    tab, proxy = proxied_tab
    eid, ids = experiment_with_runs(client, people["writer"]["headers"], 3, steps=50)
    seeded = model_with_production(app, client, people["writer"], people["reviewer"])
    tab.go(f"/experiments/{eid}")
    assert tab.page.url.startswith(PUBLIC + "/login?next=")
    tab.page.fill("input[name=username]", "rita")
    tab.page.fill("input[name=password]", "correct-horse-battery")
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(re.compile(rf"^{re.escape(PUBLIC)}/experiments/{eid}$"))
    cookies = tab.page.context.cookies()
    assert [c["path"] for c in cookies if c["name"] == "tether_session"] == ["/tether/"]
    # run detail: charts fetch the metric history through the prefix
    tab.go(f"/runs/{ids[0]}")
    tab.page.wait_for_selector("#charts[data-ready='1']")
    assert tab.page.locator("#charts canvas").count() >= 1
    # compare: its history fetch too
    tab.go(f"/compare?run={','.join(ids[:2])}")
    tab.page.wait_for_selector("#compare-charts[data-ready='1']")
    # nav links
    tab.page.click("nav >> text=Models")
    tab.page.wait_for_url(PUBLIC + "/models")
    # lineage: clicking a node navigates under the prefix
    tab.go("/lineage/models/churn/1")
    tab.page.wait_for_selector("#graph[data-ready='1']")
    box = tab.page.locator("#graph").bounding_box()
    pos = tab.page.evaluate(
        "id => window.tetherLineage.getElementById(id).renderedPosition()", f"run:{seeded['run1']}"
    )
    tab.page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    tab.page.wait_for_url(PUBLIC + f"/runs/{seeded['run1']}")
    assert tab.errors == [] and tab.dialogs == []
    assert all(path.startswith("/tether/") for _m, path in proxy.seen)
