"""Small read-only queries the UI needs that no service offers yet (candidates to move into services/).

Each takes the session and the caller first, checks READ on the resource through the services, and
bounds its result size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from ..access import Principal
from ..models import Dataset, DatasetVersion, LatestMetric, Param, Run, RunInput, RunTag
from ..services.tracking import experiments, search

MAX_KEYS = 200


def column_keys(session: Session, actor: Principal, experiment_id: int) -> dict[str, list[str]]:
    """The distinct param, metric and tag keys of an experiment's runs (for the column chooser)."""
    experiments.get_experiment(session, actor, experiment_id)
    runs = select(Run.id).where(Run.experiment_id == experiment_id).scalar_subquery()
    out: dict[str, list[str]] = {}
    for kind, model in (("params", Param), ("metrics", LatestMetric), ("tags", RunTag)):
        q = select(model.key).where(model.run_id.in_(runs)).distinct().order_by(model.key).limit(MAX_KEYS)
        out[kind] = [k for k in session.scalars(q) if not (kind == "tags" and k.startswith("tether."))]
    return out


def run_inputs(session: Session, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Datasets used by runs the caller already read: name, version id, root hash, context."""
    out: dict[str, list[dict[str, Any]]] = {r: [] for r in run_ids}
    if not run_ids:
        return out
    q = (
        select(
            RunInput.run_id,
            RunInput.context,
            DatasetVersion.id,
            DatasetVersion.root_hash,
            Dataset.name,
            DatasetVersion.file_count,
            DatasetVersion.total_bytes,
        )
        .join(DatasetVersion, DatasetVersion.id == RunInput.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(RunInput.run_id.in_(run_ids))
        .order_by(Dataset.name, RunInput.context)
    )
    for rid, ctx, dvid, root, name, files, size in session.execute(q):
        out[rid].append(
            {
                "dataset": name,
                "dataset_version_id": dvid,
                "root_hash": root,
                "context": ctx,
                "file_count": files,
                "total_bytes": size,
            }
        )
    return out


def child_runs(session: Session, actor: Principal, run: Run, limit: int = 100) -> list[Row[Any]]:
    rows, _ = search.search_runs(
        session,
        actor,
        experiment_ids=[run.experiment_id],
        filter=f"parent_run_id = '{run.id}'",
        order_by=["start_time DESC"],
        max_results=limit,
        lifecycle="all",
    )
    return rows


MAX_CHILDREN = 1000


def children_of(
    session: Session, actor: Principal, experiment_id: int, parent_ids: list[str]
) -> list[Row[Any]]:
    """The child runs of the given runs (one search, oldest first, at most ``MAX_CHILDREN``)."""
    if not parent_ids:
        return []
    ids = ", ".join(f"'{p}'" for p in parent_ids if p.isalnum())
    rows, _ = search.search_runs(
        session,
        actor,
        experiment_ids=[experiment_id],
        filter=f"parent_run_id IN ({ids})",
        order_by=["start_time ASC"],
        max_results=MAX_CHILDREN,
    )
    return rows


def run_names(session: Session, run_ids: list[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    return dict(session.execute(select(Run.id, Run.name).where(Run.id.in_(run_ids))).all())


def histories(
    session: Session, actor: Principal, run_ids: list[str], key: str, max_points: int
) -> dict[str, list[tuple[int, float, int]]]:
    """Downsampled histories of one metric for many runs, through the metrics service (one index
    range scan per run: a single IN query makes SQLite sort every row)."""
    from ..services.tracking import metrics

    return {rid: metrics.history(session, actor, rid, key, max_points=max_points)["items"] for rid in run_ids}
