"""``tether export``: write the bundle folder (format in ``bundle``).

Export selects the named experiments (their tags, runs, params, tags, metric points, latest values,
artifacts, dataset inputs and run explanations), the named models (versions with their model-card text,
file manifests, inputs, explanations with their local-explanation sample, aliases, policies, transition
requests and approvals, monitor definitions, and the runs and experiments the versions came from) and
the audit rows about all of these, plus the users they name (name and role only).

Not exported, on purpose: a monitor's windows, predictions, references and alerts, and A/B tests with
their outcome windows. They describe the old server's live traffic (a bundle moves a model, not its
production deployment): the imported monitor starts a new reference from the live version when data
arrives on the new server. What happened stays readable: the audit rows (alert opened/resolved, A/B
decided) come along, and an A/B decision's evidence lives in its transition request, which is exported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...models import now_ms
from ...storage import ArtifactStore
from .bundle import CHUNK, FORMAT, TABLES, VERSION, _int_pk, refs_of, table


@dataclass
class Selection:
    experiments: set[int] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    models: set[int] = field(default_factory=set)
    versions: set[int] = field(default_factory=set)
    requests: set[int] = field(default_factory=set)
    dataset_versions: set[int] = field(default_factory=set)
    datasets: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)


def _ids(session: Session, t: Table, col: str, values: Iterable[Any], out: str = "id") -> set[Any]:
    vals = list(values)
    found: set[Any] = set()
    for i in range(0, len(vals), 500):
        found |= set(session.scalars(select(t.c[out]).where(t.c[col].in_(vals[i : i + 500]))))
    return found


def select_scope(session: Session, experiments: list[str], models: list[str]) -> Selection:
    sel = Selection()
    exp_t, model_t = table("experiments"), table("registered_models")
    for name in experiments:
        eid = session.scalar(select(exp_t.c.id).where(exp_t.c.name == name))
        if eid is None:
            raise NotFound(f"Experiment {name!r} not found")
        sel.experiments.add(eid)
    for name in models:
        mid = session.scalar(select(model_t.c.id).where(model_t.c.name == name))
        if mid is None:
            raise NotFound(f"Model {name!r} not found")
        sel.models.add(mid)
    sel.versions = _ids(session, table("model_versions"), "model_id", sel.models)
    source_runs = _ids(session, table("model_versions"), "id", sel.versions, out="run_id") - {None}
    sel.experiments |= _ids(session, table("runs"), "id", source_runs, out="experiment_id")
    sel.runs = _ids(session, table("runs"), "experiment_id", sel.experiments)
    sel.requests = _ids(session, table("transition_requests"), "model_id", sel.models)
    sel.dataset_versions = _ids(session, table("run_inputs"), "run_id", sel.runs, out="dataset_version_id")
    sel.dataset_versions |= _ids(
        session, table("model_version_inputs"), "version_id", sel.versions, out="dataset_version_id"
    )
    sel.dataset_versions |= _ids(
        session, table("monitors"), "model_id", sel.models, out="reference_dataset_version_id"
    ) - {None}
    sel.dataset_versions |= _explanation_datasets(session, sel)
    sel.datasets = _ids(session, table("dataset_versions"), "id", sel.dataset_versions, out="dataset_id")
    return sel


def _explanation_datasets(session: Session, sel: Selection) -> set[int]:
    """Dataset versions the selected explanations were computed on (a reference inside their JSON)."""
    t = table("explanations")
    out: set[int] = set()
    for row in _rows(session, t, _scope_filter(t, sel, [])):
        dv = (row.get("dataset") or {}).get("dataset_version_id")
        if isinstance(dv, int):
            out.add(dv)
    return out


def _scope_filter(t: Table, sel: Selection, model_names: list[str]) -> Any:
    by: dict[str, tuple[str, set[Any]]] = {
        "experiments": ("id", sel.experiments),
        "experiment_tags": ("experiment_id", sel.experiments),
        "runs": ("id", sel.runs),
        "run_tags": ("run_id", sel.runs),
        "params": ("run_id", sel.runs),
        "metrics": ("run_id", sel.runs),
        "latest_metrics": ("run_id", sel.runs),
        "artifacts": ("run_id", sel.runs),
        "run_inputs": ("run_id", sel.runs),
        "datasets": ("id", sel.datasets),
        "dataset_versions": ("id", sel.dataset_versions),
        "registered_models": ("id", sel.models),
        "model_versions": ("id", sel.versions),
        "model_version_files": ("version_id", sel.versions),
        "model_version_inputs": ("version_id", sel.versions),
        "model_aliases": ("model_id", sel.models),
        "registry_policies": ("model_id", sel.models),
        "transition_requests": ("id", sel.requests),
        "transition_approvals": ("request_id", sel.requests),
        "users": ("id", sel.users),
    }
    if t.name == "explanations":  # a run's or a version's
        return t.c.run_id.in_(sorted(sel.runs)) | t.c.version_id.in_(sorted(sel.versions))
    if t.name == "monitors":  # definitions only: windows, alerts and references are the old server's
        return t.c.model_id.in_(sorted(sel.models))
    if t.name == "audit_events":
        return (
            t.c.model_name.in_(model_names)
            | ((t.c.resource_type == "run") & t.c.resource_id.in_(sorted(sel.runs)))
            | ((t.c.resource_type == "experiment") & t.c.resource_id.in_([str(i) for i in sel.experiments]))
        )
    col, values = by[t.name]
    return t.c[col].in_(sorted(values))


def _rows(session: Session, t: Table, where: Any) -> Iterator[dict[str, Any]]:
    """Rows in primary-key order; tables with an integer id (metrics, audit) in keyset pages, so memory
    stays flat (no server-side cursor: PostgreSQL reads here may run in autocommit)."""
    if not _int_pk(t):
        order = list(t.primary_key.columns)
        yield from (dict(r) for r in session.execute(select(t).where(where).order_by(*order)).mappings())
        return
    last: Any = None
    while True:
        q = select(t).where(where).order_by(t.c.id).limit(CHUNK)
        if last is not None:
            q = q.where(t.c.id > last)
        page = [dict(r) for r in session.execute(q).mappings()]
        yield from page
        if len(page) < CHUNK:
            return
        last = page[-1]["id"]


def export_bundle(
    session: Session, store: ArtifactStore, out: Path, experiments: list[str], models: list[str], source: str
) -> dict[str, int]:
    """Write the bundle folder ``out`` (must not exist or be empty); returns rows per table."""
    if out.exists() and any(out.iterdir()):
        raise AlreadyExists(f"{out} is not empty")
    if not experiments and not models:
        raise InvalidArgument("Name at least one --experiment or --model")
    model_names = sorted(set(models))
    sel = select_scope(session, experiments, model_names)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "objects").mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    for name in TABLES[1:]:  # users last: the rows name them
        counts[name] = _export_table(
            session, store, out, table(name), _scope_filter(table(name), sel, model_names), sel
        )
    counts["users"] = _export_table(
        session, store, out, table("users"), _scope_filter(table("users"), sel, []), sel
    )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "source": source,
        "created_at": now_ms(),
        "experiments": sorted(experiments),
        "models": model_names,
        "tables": counts,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return counts


_USER_COLUMNS = ("id", "name", "role")


def _export_table(
    session: Session, store: ArtifactStore, out: Path, t: Table, where: Any, sel: Selection
) -> int:
    user_cols = [c for c, tgt in refs_of(t).items() if tgt == "users"]
    n = 0
    with open(out / "tables" / f"{t.name}.jsonl", "w") as fh:
        for row in _rows(session, t, where):
            if t.name == "users":
                row = {k: row[k] for k in _USER_COLUMNS}
            sel.users |= {row[c] for c in user_cols if row.get(c) is not None}
            if "storage_key" in row and t.name in ("artifacts", "model_version_files"):
                _export_object(store, out, row["storage_key"], row["sha256"])
            if t.name == "explanations" and row.get("local_key"):
                _export_object(store, out, row["local_key"], row["local_sha256"])
            fh.write(json.dumps(row, default=_jsonable, sort_keys=True) + "\n")
            n += 1
    return n


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    raise TypeError(f"cannot export {type(v).__name__}")


def _export_object(store: ArtifactStore, out: Path, key: str, sha256: str) -> None:
    dst = out / "objects" / sha256
    if dst.exists():
        return
    tmp = dst.with_suffix(".part")
    h = hashlib.sha256()
    with open(tmp, "wb") as fh:
        for chunk in store.open(key):
            h.update(chunk)
            fh.write(chunk)
    if h.hexdigest() != sha256:
        tmp.unlink()
        raise InvalidArgument(f"object {key} does not match its recorded sha256; export stopped")
    os.replace(tmp, dst)
