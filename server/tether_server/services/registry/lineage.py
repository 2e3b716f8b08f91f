"""Lineage graphs: dataset versions → run → model version → stage and alias history, and the reverse."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import NotFound
from ...models import AuditEvent, Dataset, DatasetVersion, Run, RunInput
from ...models.registry import ModelVersion, ModelVersionInput, RegisteredModel
from ..identity import permissions
from . import catalog as reg

HISTORY_ACTIONS = ("model.version_created", "model.stage_changed", "model.alias_changed")


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []

    def node(self, node_id: str, kind: str, **attrs: Any) -> str:
        self.nodes.setdefault(node_id, {"id": node_id, "type": kind, **attrs})
        return node_id

    def edge(self, src: str, dst: str, kind: str, **attrs: Any) -> None:
        self.edges.append({"source": src, "target": dst, "type": kind, **attrs})

    def out(self, **extra: Any) -> dict[str, Any]:
        return {"nodes": list(self.nodes.values()), "edges": self.edges, **extra}


def _run_node(g: Graph, session: Session, run_id: str | None) -> str | None:
    if not run_id:
        return None
    run = session.get(Run, run_id)
    attrs = (
        {
            "name": run.name,
            "status": run.status,
            "lifecycle": run.lifecycle,
            "experiment_id": run.experiment_id,
        }
        if run
        else {"lifecycle": "purged"}
    )
    return g.node(f"run:{run_id}", "run", run_id=run_id, **attrs)


def _history(session: Session, model_name: str, version: int) -> list[AuditEvent]:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.model_name == model_name, AuditEvent.action.in_(HISTORY_ACTIONS))
        .order_by(AuditEvent.id)
    )
    return [
        e
        for e in rows
        if (e.details or {}).get("version") == version
        or (e.action == "model.alias_changed" and e.from_value == str(version))
    ]


def model_version_graph(session: Session, actor: Principal, name: str, version: int) -> dict[str, Any]:
    _model, mv = reg.get_version(session, actor, name, version)
    g = Graph()
    mv_id = g.node(
        f"model_version:{name}/{version}", "model_version", model=name, version=version, stage=mv.stage
    )
    run_node = _run_node(g, session, mv.run_id)
    if run_node:
        g.edge(run_node, mv_id, "produced", artifact_path=mv.artifact_path)
    for i in session.scalars(select(ModelVersionInput).where(ModelVersionInput.version_id == mv.id)):
        dv = g.node(
            f"dataset_version:{i.dataset_version_id}",
            "dataset_version",
            dataset=i.dataset_name,
            hash=i.root_hash,
            dataset_version_id=i.dataset_version_id,
        )
        g.edge(dv, run_node or mv_id, "input", context=i.context)
    history = []
    for e in _history(session, name, version):
        item = {
            "action": e.action,
            "from": e.from_value,
            "to": e.to_value,
            "at": e.ts,
            "by": e.actor_name,
            "comment": e.comment,
        }
        history.append(item)
        if e.action == "model.stage_changed":
            g.edge(
                mv_id,
                g.node(f"stage:{name}/{e.to_value}", "stage", model=name, stage=e.to_value),
                "stage_change",
                **item,
            )
        elif e.action == "model.alias_changed":
            alias = (e.details or {}).get("alias")
            kind = "alias_set" if e.to_value == str(version) else "alias_removed"
            g.edge(mv_id, g.node(f"alias:{name}/{alias}", "alias", model=name, alias=alias), kind, **item)
    return g.out(root=mv_id, history=history)


def dataset_version_graph(session: Session, actor: Principal, dataset_version_id: int) -> dict[str, Any]:
    row = session.execute(
        select(DatasetVersion, Dataset.name)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetVersion.id == dataset_version_id)
    ).first()
    if row is None:
        raise NotFound(f"Dataset version {dataset_version_id} not found")
    dv, ds_name = row
    g = Graph()
    root = g.node(
        f"dataset_version:{dv.id}",
        "dataset_version",
        dataset=ds_name,
        hash=dv.root_hash,
        dataset_version_id=dv.id,
    )
    runs_q = (
        select(RunInput.run_id, RunInput.context)
        .join(Run, Run.id == RunInput.run_id)
        .where(
            RunInput.dataset_version_id == dv.id,
            permissions.filter_clause(actor, "experiment", Run.experiment_id),
        )
    )
    run_nodes: dict[str, str] = {}
    for run_id, ctx in session.execute(runs_q):
        run_nodes[run_id] = _run_node(g, session, run_id) or ""
        g.edge(root, run_nodes[run_id], "input", context=ctx)
    mv_q = (
        select(ModelVersion, RegisteredModel.name, ModelVersionInput.context)
        .join(ModelVersionInput, ModelVersionInput.version_id == ModelVersion.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            ModelVersionInput.dataset_version_id == dv.id,
            permissions.filter_clause(actor, "model", RegisteredModel.id),
        )
    )
    for mv, model_name, ctx in session.execute(mv_q):
        node = g.node(
            f"model_version:{model_name}/{mv.version}",
            "model_version",
            model=model_name,
            version=mv.version,
            stage=mv.stage,
        )
        src = run_nodes.get(mv.run_id or "")
        g.edge(src, node, "produced") if src else g.edge(root, node, "trained_on", context=ctx)
    return g.out(root=root)
