from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from .. import context
from ..access import access
from ..jsonutil import dumps, float_out
from ..schemas.runs import MetricHistoryArgs
from ..services.tracking import metrics as svc

blp = Blueprint("metrics", __name__, description="Metric histories")


@blp.route("/runs/<run_id>/metrics/<path:key>", methods=["GET"])
@access("viewer")
@blp.arguments(MetricHistoryArgs, location="query")
def history(args: dict[str, Any], run_id: str, key: str) -> Response:
    """Full history in pages, or ``max_points`` downsampled (extremes and last point kept)."""
    out = svc.history(context.db(), context.principal(), run_id, key, **args)
    out["items"] = [{"step": s, "value": float_out(v), "timestamp": t} for s, v, t in out["items"]]
    return Response(dumps(out), mimetype="application/json")
