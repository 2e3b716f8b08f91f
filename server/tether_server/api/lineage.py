"""Lineage graphs: dataset versions → run → model version → stage/alias history, and the reverse."""

from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas.registry import GraphSchema
from ..services.registry import lineage as svc
from . import Blueprint

blp = Blueprint("lineage", __name__, description="Lineage between datasets, runs and model versions")


@blp.route("/lineage/model-versions/<name>/<int:version>", methods=["GET"])
@access("viewer")
@blp.response(200, GraphSchema)
def model_version(name: str, version: int) -> Any:
    return svc.model_version_graph(context.db(), context.principal(), name, version)


@blp.route("/lineage/dataset-versions/<int:dataset_version_id>", methods=["GET"])
@access("viewer")
@blp.response(200, GraphSchema)
def dataset_version(dataset_version_id: int) -> Any:
    """The runs and model versions that used a dataset version (filtered by what the caller can read)."""
    return svc.dataset_version_graph(context.db(), context.principal(), dataset_version_id)
