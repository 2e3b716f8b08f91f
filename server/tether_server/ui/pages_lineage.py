"""Lineage graph pages: dataset versions → runs → model versions → stage/alias history, drawn with cytoscape.

The JSON twin (``Accept: application/json``) is the graph of ``GET /api/v1/lineage/...`` with an ``href`` on
each node (the page a click opens); the page's script fetches it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import context
from ..access import access
from ..services.registry import lineage
from .common import page


def node_href(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if kind == "run" and node.get("lifecycle") != "purged":
        return f"/runs/{quote(str(node['run_id']), safe='')}"
    if kind == "model_version":
        return f"/models/{quote(str(node['model']), safe='')}/versions/{int(node['version'])}"
    if kind == "dataset_version":
        return f"/lineage/datasets/{int(node['dataset_version_id'])}"
    if kind in ("stage", "alias"):
        return f"/models/{quote(str(node['model']), safe='')}"
    return None


def _with_links(graph: dict[str, Any]) -> dict[str, Any]:
    for n in graph["nodes"]:
        n["href"] = node_href(n)
    return graph


@access("viewer")
def model_version(name: str, version: int) -> Any:
    graph = lineage.model_version_graph(context.db(), context.principal(), name, version)
    return page("lineage.html", _with_links(graph), title=f"{name} v{version}")


@access("viewer")
def dataset_version(dataset_version_id: int) -> Any:
    graph = lineage.dataset_version_graph(context.db(), context.principal(), dataset_version_id)
    root = next(n for n in graph["nodes"] if n["id"] == graph["root"])
    return page(
        "lineage.html", _with_links(graph), title=f"dataset {root.get('dataset')} @ {root['hash'][:12]}"
    )
