from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas.runs import MetricHistoryArgs, MetricHistorySchema
from ..services.tracking import metrics as svc
from . import Blueprint

blp = Blueprint("metrics", __name__, description="Metric histories")


@blp.route("/runs/<run_id>/metrics/<path:key>", methods=["GET"])
@access("viewer")
@blp.arguments(MetricHistoryArgs, location="query")
@blp.response(200, MetricHistorySchema)
def history(args: dict[str, Any], run_id: str, key: str) -> Any:
    """Full history in pages, or ``max_points`` downsampled (extremes and last point kept)."""
    return svc.history(context.db(), context.principal(), run_id, key, **args)
