from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas.experiments import (
    ExperimentCreateSchema,
    ExperimentListArgs,
    ExperimentPageSchema,
    ExperimentSchema,
    ExperimentUpdateSchema,
)
from ..services.tracking import experiments as svc
from . import Blueprint

blp = Blueprint("experiments", __name__, description="Experiments group runs")


@blp.route("/experiments", methods=["POST"])
@access("writer")
@blp.arguments(ExperimentCreateSchema)
@blp.response(201, ExperimentSchema)
def create(body: dict[str, Any]) -> Any:
    return svc.create_experiment(context.db(), context.principal(), **body)


@blp.route("/experiments", methods=["GET"])
@access("viewer")
@blp.arguments(ExperimentListArgs, location="query")
@blp.response(200, ExperimentPageSchema)
def list_(args: dict[str, Any]) -> Any:
    items, nxt = svc.list_experiments(context.db(), context.principal(), **args)
    return {"items": items, "next_page_token": nxt}


@blp.route("/experiments/<int:experiment_id>", methods=["GET"])
@access("viewer")
@blp.response(200, ExperimentSchema)
def get(experiment_id: int) -> Any:
    return svc.get_experiment(context.db(), context.principal(), experiment_id)


@blp.route("/experiments/<int:experiment_id>", methods=["PATCH"])
@access("writer")
@blp.arguments(ExperimentUpdateSchema)
@blp.response(200, ExperimentSchema)
def update(body: dict[str, Any], experiment_id: int) -> Any:
    return svc.update_experiment(context.db(), context.principal(), experiment_id, **body)


@blp.route("/experiments/<int:experiment_id>", methods=["DELETE"])
@access("writer")
@blp.response(200, ExperimentSchema)
def delete(experiment_id: int) -> Any:
    return svc.delete_experiment(context.db(), context.principal(), experiment_id)
