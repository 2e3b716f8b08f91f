"""The lineage graph renders dataset version → run → model version → stages, and clicking navigates."""

from __future__ import annotations

import re

import pytest

from tests.web.seed import model_with_production

pytestmark = pytest.mark.browser


def _click_node(tab, node_id: str) -> None:
    box = tab.page.locator("#graph").bounding_box()
    pos = tab.page.evaluate("id => window.tetherLineage.getElementById(id).renderedPosition()", node_id)
    tab.page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


def test_lineage_graph_renders_and_navigates(app, client, people, tab):
    seeded = model_with_production(app, client, people["writer"], people["reviewer"])
    tab.login("rita", "correct-horse-battery")
    tab.go("/models/churn/versions/1")
    tab.page.click("text=Lineage graph")
    tab.page.wait_for_url(re.compile(r"/lineage/models/churn/1$"))
    tab.page.wait_for_selector("#graph[data-ready='1']")
    types = tab.page.evaluate("() => window.tetherLineage.nodes().map(n => n.data('type')).sort()")
    assert {"dataset_version", "run", "model_version", "stage"} <= set(types)
    assert tab.page.locator("#graph canvas").count() >= 1
    assert "Production" in tab.page.inner_text("#history")
    tab.shot("lineage_model_version")
    # Clicking the run node opens the run's page.
    _click_node(tab, f"run:{seeded['run1']}")
    tab.page.wait_for_url(re.compile(rf"/runs/{seeded['run1']}$"))
    # From the run page's dataset, the reverse graph: dataset version → runs → model versions.
    tab.go(f"/lineage/datasets/{seeded['dataset_version_1']}")
    tab.page.wait_for_selector("#graph[data-ready='1']")
    labels = tab.page.evaluate("() => window.tetherLineage.nodes().map(n => n.data('label'))")
    assert any(label.startswith("churn v1") for label in labels)
    tab.shot("lineage_dataset_version")
    _click_node(tab, "model_version:churn/1")
    tab.page.wait_for_url(re.compile(r"/models/churn/versions/1$"))
    assert tab.errors == [] and tab.dialogs == []
