"""Datasets: content-addressed versions, the runs that used them, version diffs."""

from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas import ListArgs
from ..schemas.datasets import (
    DatasetLogSchema,
    DatasetPageSchema,
    DiffArgs,
    DiffSchema,
    RunInputListSchema,
    RunUseListSchema,
    VersionDetailSchema,
    VersionListSchema,
)
from ..services.artifacts import datasets as svc
from . import Blueprint

blp = Blueprint("datasets", __name__, description="Dataset versions and run inputs (lineage)")


@blp.route("/runs/<run_id>/datasets", methods=["POST"])
@access("writer")
@blp.arguments(DatasetLogSchema)
@blp.response(201, VersionDetailSchema)
def log_dataset(body: dict[str, Any], run_id: str) -> Any:
    """Record that a run used a dataset version (created if this content is new)."""
    version, created = svc.log_dataset(context.db(), context.principal(), run_id, **body)
    return {
        **{c: getattr(version, c) for c in VersionDetailSchema._declared_fields if c != "created"},
        "created": created,
    }


@blp.route("/runs/<run_id>/inputs", methods=["GET"])
@access("viewer")
@blp.response(200, RunInputListSchema)
def run_inputs(run_id: str) -> Any:
    return {"items": svc.run_inputs(context.db(), context.principal(), run_id)}


@blp.route("/datasets", methods=["GET"])
@access("viewer")
@blp.arguments(ListArgs, location="query")
@blp.response(200, DatasetPageSchema)
def list_datasets(args: dict[str, Any]) -> Any:
    items, nxt = svc.list_datasets(context.db(), context.principal(), args["max_results"], args["page_token"])
    return {"items": items, "next_page_token": nxt}


@blp.route("/datasets/<name>/versions", methods=["GET"])
@access("viewer")
@blp.response(200, VersionListSchema)
def list_versions(name: str) -> Any:
    return {"items": svc.list_versions(context.db(), context.principal(), name)}


@blp.route("/datasets/<name>/versions/<root_hash>", methods=["GET"])
@access("viewer")
@blp.response(200, VersionDetailSchema)
def get_version(name: str, root_hash: str) -> Any:
    return svc.get_version(context.db(), context.principal(), name, root_hash)


@blp.route("/datasets/<name>/versions/<root_hash>/runs", methods=["GET"])
@access("viewer")
@blp.response(200, RunUseListSchema)
def version_runs(name: str, root_hash: str) -> Any:
    session, actor = context.db(), context.principal()
    return {"items": svc.runs_using(session, actor, svc.get_version(session, actor, name, root_hash))}


@blp.route("/datasets/<name>/diff", methods=["GET"])
@access("viewer")
@blp.arguments(DiffArgs, location="query")
@blp.response(200, DiffSchema)
def diff(args: dict[str, Any], name: str) -> Any:
    return svc.diff_versions(context.db(), context.principal(), name, args["from_"], args["to"])
