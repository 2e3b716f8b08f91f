"""The A/B test page over HTTP: every number shown comes with its plain sentence (α and the minimum
sample included), planned vs observed shares with the SRM verdict, and the chart's anchor."""

from __future__ import annotations

import html as htmllib

from tests.abtests.helpers import model_with_challenger, new_test

from .test_pages_http import HTML, login, people, settings_overrides  # noqa: F401


def test_abtest_page_explains_every_number(app, client, people):  # noqa: F811
    w, r = people["writer"], people["reviewer"]
    model_with_challenger(client, w["headers"], (r["id"], r["headers"]))
    t = new_test(client, w["headers"], traffic=[0.9, 0.1])
    windows = [{"arm": "control", "window_start": 0, "n": 900, "successes": 90},
               {"arm": "challenger", "window_start": 0, "n": 100, "successes": 11}]  # fmt: skip
    assert client.post(f"/api/v1/ab-tests/{t['id']}/outcomes", headers=w["headers"],
                       json={"windows": windows}).status_code == 200  # fmt: skip
    results = client.get(f"/api/v1/ab-tests/{t['id']}/results", headers=w["headers"]).get_json()
    page = htmllib.unescape(
        login(app, "vic").get(f"/ab-tests/{t['id']}", headers=HTML).get_data(as_text=True)
    )
    assert "α = 0.05 is the chance, however often anyone looks" in page
    assert "before each arm has 1000 units and 30 events" in page
    assert "90.0%" in page and "10.0%" in page and results["srm"]["explain"] in page  # planned, observed, SRM
    sentences = [results["explain"]]
    for arm in results["arms"]:
        sentences += (
            [v for v in arm["explain"].values()] if isinstance(arm["explain"], dict) else [arm["explain"]]
        )
    assert sentences and all(s and s in page for s in sentences), [s for s in sentences if s not in page]
    assert f'data-test-id="{t["id"]}"' in page
