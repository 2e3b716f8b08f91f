from __future__ import annotations

from typing import Any

from flask import Response, request

from .. import context
from ..access import access
from ..jsonutil import dumps
from ..schemas.runs import COLUMNAR, MetricColumnsSchema, MetricHistoryArgs, MetricHistorySchema
from ..services.tracking import metrics as svc
from . import Blueprint

blp = Blueprint("metrics", __name__, description="Metric histories")

_COLUMNS = MetricColumnsSchema()


@blp.route("/runs/<run_id>/metrics/<path:key>", methods=["GET"])
@access("viewer")
@blp.arguments(MetricHistoryArgs(), location="query")  # one instance: webargs would build one per request
@blp.response(200, MetricHistorySchema)
@blp.doc(  # both representations of a history (the manual doc replaces the generated content map)
    responses={
        "200": {
            "description": "OK",
            "content": {
                "application/json": {"schema": MetricHistorySchema},
                COLUMNAR: {"schema": MetricColumnsSchema},
            },
        }
    }
)
def history(args: dict[str, Any], run_id: str, key: str) -> Any:
    """Full history in pages, or ``max_points`` downsampled (extremes and last point kept).

    Rows (``items``) by default; parallel ``steps``/``values``/``timestamps`` arrays with
    ``format=columnar`` or ``Accept: application/vnd.tether.columnar+json``."""
    if not _columnar(args.pop("format")):
        return svc.history(context.db(), context.principal(), run_id, key, **args), {"Vary": "Accept"}
    body = dumps(_COLUMNS.dump(svc.history_columns(context.db(), context.principal(), run_id, key, **args)))
    return Response(body, mimetype=COLUMNAR, headers={"Vary": "Accept"})


def _columnar(fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "columnar"
    return request.accept_mimetypes.best_match(["application/json", COLUMNAR]) == COLUMNAR
