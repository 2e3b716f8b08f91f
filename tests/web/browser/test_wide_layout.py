"""The runs table and the charts at 1440 px: full width, one line per row, sticky header and first
column, sideways scrolling inside the table, child runs folded under their parent; chart options."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.seed import experiment_with_runs

from .conftest import PASSWORD, tab_to

pytestmark = pytest.mark.browser


def _child(client: Any, h: dict[str, str], eid: int, parent: str, name: str) -> str:
    r = client.post(
        "/api/v1/runs", json={"experiment_id": eid, "name": name, "parent_run_id": parent}, headers=h
    )
    assert r.status_code == 201, r.json
    return r.json["id"]


def _box(tab: Any, selector: str) -> dict[str, float]:
    return tab.page.locator(selector).first.bounding_box()


def test_runs_table_fits_1440_and_nests_child_runs(client, people, wide_tab):
    h = people["writer"]["headers"]
    eid, ids = experiment_with_runs(client, h, 30, steps=3)
    r = client.post(
        "/api/v1/runs",
        json={"experiment_id": eid, "name": "a-rather-long-run-name-for-a-grid-search-lr-0.001-depth-12"},
        headers=h,
    )
    assert r.status_code == 201
    kids = [_child(client, h, eid, ids[0], f"fold-{i}") for i in range(3)]
    hp = {f"hp_{i:02d}": f"value-{i:02d}-abcdefgh" for i in range(20)}
    assert client.post(f"/api/v1/runs/{ids[1]}/batch", headers=h, json={"params": hp}).status_code == 200
    t = wide_tab
    t.login("wendy", PASSWORD)
    t.go(f"/experiments/{eid}?size=50")
    # Top-level runs only (31); the children are rows after their parent, hidden until expanded.
    rows = t.page.locator("#runs-table tbody tr")
    assert rows.count() == 34
    assert t.page.locator("#runs-table tbody tr:not([hidden])").count() == 31
    # The table spans the window (minus the page's padding) and every column is visible.
    scroll = _box(t, "#runs-scroll")
    assert scroll["width"] >= 1440 - 2 * 24 - 20, scroll
    fits = t.page.evaluate(
        "() => { const s = document.getElementById('runs-scroll'); return s.scrollWidth <= s.clientWidth; }"
    )
    assert fits, "default columns must fit a 1440 px window"
    # One line per row: no wrapped names or dates.
    heights = t.page.evaluate(
        "() => Array.from(document.querySelectorAll('#runs-table tbody tr:not([hidden])')).map(r => r.getBoundingClientRect().height)"
    )
    assert max(heights) < 40, heights
    # Compact dates, with the full timestamp in a tooltip.
    date = t.page.locator(f"#runs-table tr[data-run-id='{ids[0]}'] td.date time").first
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2}", date.inner_text()), date.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", date.get_attribute("title"))
    t.shot("runs_table_1440")
    # Expanding run-000 shows its three children right under it, and the toggle says so.
    toggle = t.page.locator(f"#runs-table tr[data-run-id='{ids[0]}'] button.toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    order = t.page.evaluate(
        "() => Array.from(document.querySelectorAll('#runs-table tbody tr')).map(r => r.dataset.runId)"
    )
    at = order.index(ids[0])
    assert order[at + 1 : at + 4] == kids
    assert all(t.page.locator(f"#run-{k}").is_visible() for k in kids)
    t.shot("runs_table_children_expanded")
    toggle.click()
    assert not t.page.locator(f"#run-{kids[0]}").is_visible()
    # A filter lists matching children flat, marked as children.
    t.go(f"/experiments/{eid}?filter=" + "attributes.run_name+LIKE+'fold-%25'")
    names = [n.strip() for n in t.page.locator("#runs-table tbody td.run-name").all_inner_texts()]
    assert sorted(n.replace("↳", "").strip() for n in names) == ["fold-0", "fold-1", "fold-2"]
    # Many columns: the table scrolls sideways inside its box, not the page; header and first column stick.
    cols = "&".join(f"col=params.hp_{i:02d}" for i in range(20)) + "&col=metrics.auc&col=metrics.loss"
    t.go(f"/experiments/{eid}?size=50&{cols}")
    assert t.page.locator("#runs-table thead th").count() == 4 + 22
    wide = t.page.evaluate(
        "() => { const s = document.getElementById('runs-scroll');"
        " return [s.scrollWidth > s.clientWidth, document.documentElement.scrollWidth <= window.innerWidth]; }"
    )
    assert wide == [True, True]
    t.page.evaluate(
        "() => { const s = document.getElementById('runs-scroll'); s.scrollLeft = 2000; s.scrollTop = 400; }"
    )
    box = _box(t, "#runs-scroll")
    first = _box(t, f"#runs-table tr[data-run-id='{ids[5]}'] td.run-name")
    head = _box(t, "#runs-table thead th.sticky-col")
    assert abs(first["x"] - box["x"]) <= 2, (first, box)  # the first column stayed at the left edge
    assert abs(head["y"] - box["y"]) <= 2, (head, box)  # the header stayed at the top
    t.shot("runs_table_many_columns_scrolled")
    assert t.errors == []


def _ema(values: list[float], alpha: float) -> list[float]:
    out, last = [], 0.0
    for n, v in enumerate(values, 1):
        last = last * alpha + (1 - alpha) * v
        out.append(last / (1 - alpha**n))
    return out


def test_charts_full_width_log_scale_smoothing_and_single_point(client, people, wide_tab):
    h = people["writer"]["headers"]
    eid, ids = experiment_with_runs(client, h, 3, steps=200)
    one = {"key": "val_top1", "value": 0.8, "step": 20_000, "timestamp": 1}
    assert client.post(f"/api/v1/runs/{ids[0]}/batch", headers=h, json={"metrics": [one]}).status_code == 200
    t = wide_tab
    t.login("wendy", PASSWORD)
    t.go(f"/runs/{ids[0]}")
    t.page.wait_for_selector("#charts[data-ready='1']")
    charts = _box(t, "#charts")
    assert charts["width"] >= 1440 - 2 * 24 - 20, charts
    figs = t.page.locator("#charts figure.chart")
    assert figs.count() == 3
    widths = [figs.nth(i).bounding_box()["width"] for i in range(3)]
    assert min(widths) >= 0.45 * charts["width"], widths  # two charts per row fill the row
    # The metric logged once, at step 20,000, gets an x axis around that step, not 0..40,000.
    single = t.page.locator("#charts figure.chart", has_text="val_top1")
    lo, hi = float(single.get_attribute("data-xmin")), float(single.get_attribute("data-xmax"))
    assert lo <= 20_000 <= hi and hi - lo <= 2, (lo, hi)
    loss = t.page.locator("#charts figure.chart", has_text="loss")
    raw = loss.evaluate("f => Array.from(f.plot.data[1])")
    assert raw == pytest.approx([1 / (s + 1) for s in range(200)])
    # Log scale, from the keyboard.
    tab_to(t, "#log-scale")
    t.page.keyboard.press("Space")
    assert loss.get_attribute("data-log") == "1"
    assert loss.evaluate("f => f.plot.scales.y.distr") == 3
    # auc is 0 for run-000: the chart says why it draws nothing on a log scale.
    auc = t.page.locator("#charts figure.chart", has_text="auc")
    assert "not shown on a log scale" in auc.inner_text() and loss.locator("p.note").count() == 0
    # EMA smoothing: the drawn series is the debiased EMA of the raw one.
    t.page.fill("#smoothing", "0.9")
    assert t.page.inner_text("#smoothing-value") == "0.90"
    drawn = loss.evaluate("f => Array.from(f.plot.data[1])")
    assert drawn == pytest.approx(_ema(raw, 0.9), rel=1e-9)
    assert drawn != pytest.approx(raw)
    t.shot("run_charts_log_smoothed")
    # Compare: one chart per row across the whole width, same options.
    t.go("/compare?" + "&".join(f"run={r}" for r in ids))
    t.page.wait_for_selector("#compare-charts[data-ready='1']")
    fig = _box(t, "#compare-charts figure.chart")
    assert fig["width"] >= 1440 - 2 * 24 - 20, fig
    canvas = _box(t, "#compare-charts figure.chart canvas")
    assert canvas["width"] >= 0.9 * fig["width"], (canvas, fig)
    t.page.check("#log-scale")
    t.page.fill("#smoothing", "0.6")
    assert t.page.locator("#compare-charts figure.chart").first.get_attribute("data-log") == "1"
    t.shot("compare_full_width_log_smoothed")
    assert t.errors == []
