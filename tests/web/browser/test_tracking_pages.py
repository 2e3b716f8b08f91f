"""Runs table (filter, sort, paging, columns), run detail and compare charts in the browser."""

from __future__ import annotations

import re

import pytest

from tests.web.seed import experiment_with_runs

pytestmark = pytest.mark.browser


def _names(tab) -> list[str]:
    return [t.strip() for t in tab.page.locator("#runs-table tbody td.run-name").all_inner_texts()]


def test_runs_table_filters_sorts_and_pages(client, people, tab):
    eid, _ids = experiment_with_runs(client, people["writer"]["headers"], 30, steps=5)
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/experiments/{eid}?size=25")
    assert len(_names(tab)) == 25
    tab.shot("runs_table")
    # Paging: the next page holds the remaining 5 runs, none repeated.
    first = set(_names(tab))
    tab.page.click("#next-page")
    tab.page.wait_for_load_state()
    second = _names(tab)
    assert len(second) == 5 and not first & set(second)
    assert tab.page.locator("#next-page").count() == 0
    tab.page.click("#first-page")
    # Sorting by a metric column (server-side): descending, then ascending on a second click.
    tab.page.click("#runs-table th a.sort[data-column='metrics.auc']")
    tab.page.wait_for_url(re.compile(r"order=metrics\.auc\+DESC"))
    assert _names(tab)[:3] == ["run-029", "run-028", "run-027"]
    tab.page.click("#runs-table th a.sort[data-column='metrics.auc']")
    tab.page.wait_for_url(re.compile(r"order=metrics\.auc\+ASC"))
    assert _names(tab)[:2] == ["run-000", "run-001"]
    # Filtering with the API's language keeps the sort.
    tab.page.fill("#filter", "params.depth = '3' and tags.team = 'growth'")
    tab.page.click("#apply-filter")
    tab.page.wait_for_load_state()
    assert _names(tab) == ["run-003", "run-013", "run-023"]
    tab.shot("runs_table_filtered")
    # A parse error is shown inline, at its position, and the table is empty (not a 500).
    tab.page.fill("#filter", "metrics.auc >> 2")
    tab.page.click("#apply-filter")
    tab.page.wait_for_load_state()
    err = tab.page.locator("#filter-error")
    assert err.is_visible() and "position" in err.inner_text()
    assert tab.page.locator("#filter-error mark").count() == 1
    assert tab.page.locator("#filter").input_value() == "metrics.auc >> 2"
    tab.shot("runs_table_parse_error")
    assert tab.dialogs == []


def test_column_chooser_adds_param_and_tag_columns(client, people, tab):
    eid, _ = experiment_with_runs(client, people["writer"]["headers"], 3, steps=3)
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/experiments/{eid}")
    tab.page.click("#column-chooser summary")
    tab.page.check("#column-chooser input[value='tags.team']")
    tab.page.uncheck("#column-chooser input[value='metrics.loss']")
    tab.page.click("#apply-columns")
    tab.page.wait_for_load_state()
    heads = tab.page.locator("#runs-table thead th").all_inner_texts()
    assert any("tags.team" in h for h in heads) and not any("metrics.loss" in h for h in heads)
    cells = tab.page.locator("#runs-table td[data-column='tags.team']").all_inner_texts()
    assert sorted(cells) == ["core", "core", "growth"]


def test_run_detail_shows_params_metrics_chart_and_artifacts(client, people, tab):
    h = people["writer"]["headers"]
    eid, ids = experiment_with_runs(client, h, 2, steps=200)
    child = client.post(
        "/api/v1/runs", json={"experiment_id": eid, "name": "child-run", "parent_run_id": ids[0]}, headers=h
    ).json["id"]
    r = client.put(f"/api/v1/runs/{ids[0]}/artifacts/plots/loss.csv", data=b"step,loss\n0,1\n", headers=h)
    assert r.status_code == 201, r.json
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/runs/{ids[0]}")
    tab.page.wait_for_selector("#charts[data-ready='1']")
    assert tab.page.locator("#charts canvas").count() >= 2  # loss and auc
    assert "depth" in tab.page.inner_text("#params") and "growth" not in tab.page.inner_text("#params")
    assert "loss" in tab.page.inner_text("#metrics")
    link = tab.page.locator("#artifacts a", has_text="plots/loss.csv")
    assert link.get_attribute("href") == f"/api/v1/runs/{ids[0]}/artifacts/plots/loss.csv"
    assert "child-run" in tab.page.inner_text("#related")
    tab.shot("run_detail")
    tab.page.click("#related a")
    tab.page.wait_for_url(re.compile(rf"/runs/{child}$"))
    assert ids[0][:8] in tab.page.inner_text("#related") or "run-000" in tab.page.inner_text("#related")
    assert tab.errors == []


def test_compare_draws_overlaid_charts_for_several_runs(client, people, tab):
    eid, ids = experiment_with_runs(client, people["writer"]["headers"], 6, steps=300)
    tab.login("wendy", "correct-horse-battery")
    tab.go(f"/experiments/{eid}")
    for rid in ids[:5]:
        tab.page.check(f"#runs-table tr[data-run-id='{rid}'] input.pick")
    assert "5 selected" in tab.page.inner_text("#selected-count")
    tab.page.click("#compare-button")
    tab.page.wait_for_url(re.compile(r"/compare\?"))
    tab.page.wait_for_selector("#compare-charts[data-ready='1']")
    charts = tab.page.locator("#compare-charts figure.chart")
    assert charts.count() == 2  # auc and loss
    assert charts.first.get_attribute("data-series") == "5"
    assert charts.first.locator("canvas").count() >= 1
    legend = tab.page.locator("#compare-charts .u-legend").first.inner_text()
    assert "run-000" in legend and "run-004" in legend
    tab.shot("compare")
    # The chart data really is on the canvas: it is not blank.
    blank = tab.page.evaluate("""() => {
        const c = document.querySelector('#compare-charts canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return false;
        return true; }""")
    assert blank is False
    assert tab.errors == []
