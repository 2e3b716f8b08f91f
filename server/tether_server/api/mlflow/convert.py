"""Tether rows → MLflow's JSON (protobuf JSON mapping: ids as strings, times in ms, NaN/Infinity as
strings) and MLflow request fields → Tether's arguments."""

from __future__ import annotations

import math
from typing import Any, Literal, overload

from flask import g, request
from sqlalchemy import Row

from ...errors import InvalidArgument
from ...models import Experiment, Run
from .. import json_object_body

LIFECYCLE_STAGES = {"active": "active", "deleted": "deleted"}
VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all", None: "active", "": "active"}
RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"


def args() -> dict[str, Any]:
    """The request's fields: the JSON body of a POST/PATCH/DELETE, the query of a GET."""
    if request.method == "GET":
        return {k: v if len(v) > 1 else v[0] for k, v in request.args.lists()}
    parsed = g.get("json_body")  # bodyguard already parsed a JSON body once
    return parsed if isinstance(parsed, dict) else json_object_body()


@overload
def text(body: dict[str, Any], field: str, *, required: Literal[True] = True) -> str: ...
@overload
def text(body: dict[str, Any], field: str, *, required: bool) -> str | None: ...
def text(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    """A string field; a required one that is missing or empty is a 400, so it is typed ``str``."""
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise InvalidArgument(f"Missing value for required parameter '{field}'", {"field": field})
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"Parameter '{field}' must be a string", {"field": field})
    return value


def run_id_of(body: dict[str, Any]) -> str:
    """``run_id`` (or the older ``run_uuid``): MLflow run ids are Tether's run ids."""
    value = body.get("run_id") or body.get("run_uuid")
    if not isinstance(value, str) or not value:
        raise InvalidArgument("Missing value for required parameter 'run_id'", {"field": "run_id"})
    return value


def integer(body: dict[str, Any], field: str, default: int | None = None) -> int | None:
    value = body.get(field)
    if value is None or value == "":
        return default
    try:
        return int(value)  # protobuf JSON may carry int64 as a string
    except (TypeError, ValueError):
        raise InvalidArgument(f"Parameter '{field}' must be an integer", {"field": field}) from None


def key_values(items: Any, field: str) -> dict[str, Any]:
    """MLflow's ``[{"key": k, "value": v}, ...]`` as a dict (a later duplicate key wins)."""
    if items is None:
        return {}
    if not isinstance(items, list) or not all(isinstance(i, dict) and "key" in i for i in items):
        raise InvalidArgument(f"'{field}' must be a list of {{key, value}} objects", {"field": field})
    return {i["key"]: i.get("value", "") for i in items}


def pairs(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def number(value: float) -> float | str:
    """A metric value in protobuf JSON: non-finite doubles are the strings NaN/Infinity/-Infinity."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def experiment(exp: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": str(exp.id),
        "name": exp.name,
        "artifact_location": f"mlflow-artifacts:/{exp.id}",
        "lifecycle_stage": LIFECYCLE_STAGES.get(exp.lifecycle, exp.lifecycle),
        "last_update_time": exp.updated_at,
        "creation_time": exp.created_at,
        "tags": pairs({t.key: t.value for t in exp.tags}),
    }


def artifact_uri(run: Run | Row[Any]) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def run_info(run: Run | Row[Any], tags: dict[str, str] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "user_id": (tags or {}).get("mlflow.user", ""),
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": artifact_uri(run),
        "lifecycle_stage": LIFECYCLE_STAGES.get(run.lifecycle, run.lifecycle),
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run(run: Run | Row[Any], details: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run (ORM object or Core row of ``runs``, as search returns) with its params, tags and latest metrics (``runs.run_details``) and its dataset inputs
    (``inputs.run_inputs``)."""
    tags = dict(details.get("tags") or {})
    if run.name:
        tags[RUN_NAME_TAG] = run.name  # MLflow keeps the name in this tag as well
    if run.parent_run_id:
        tags[PARENT_TAG] = run.parent_run_id
    metrics = [
        {"key": k, "value": number(m["value"]), "timestamp": m["timestamp"], "step": m["step"]}
        for k, m in (details.get("metrics") or {}).items()
    ]
    return {
        "info": run_info(run, tags),
        "data": {"metrics": metrics, "params": pairs(details.get("params") or {}), "tags": pairs(tags)},
        "inputs": inputs or {},
        "outputs": {},
    }
