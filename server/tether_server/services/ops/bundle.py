"""Export and import bundles: move experiments and registered models between servers.

A bundle is a folder: ``manifest.json``, ``tables/<table>.jsonl`` (one JSON object per row, columns by
name) and ``objects/<sha256>`` (artifact and model files, once per content, checked on both sides).

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

Import inserts everything in dependency order with new ids (integer ids are remapped through every
foreign key and the known user references; run ids are global and kept), copies each object to a key of
its own after verifying its sha256, reuses users, datasets and dataset versions that already exist by
name or hash (missing users are created inactive), and refuses experiments and models whose names
exist. Audit rows are inserted with their original actor names and times and ``details.imported`` =
``{"from", "original_id", "at"}`` (the audit table is append-only; inserting is allowed).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...models import load_all, now_ms
from ...storage import ArtifactStore

FORMAT = "tether-bundle"
VERSION = 1

TABLES = [
    "users",
    "experiments",
    "experiment_tags",
    "runs",
    "run_tags",
    "params",
    "metrics",
    "latest_metrics",
    "artifacts",
    "datasets",
    "dataset_versions",
    "run_inputs",
    "registered_models",
    "model_versions",
    "model_version_files",
    "model_version_inputs",
    "model_aliases",
    "registry_policies",
    "transition_requests",
    "transition_approvals",
    "explanations",
    "monitors",
    "audit_events",
]

#: References that are not declared as foreign keys: column -> table it names.
USER_REFS = {"created_by", "owner_id", "updated_by", "requested_by", "actor_id"}
EXTRA_REFS = {
    ("model_versions", "run_id"): "runs",
    ("model_version_inputs", "dataset_version_id"): "dataset_versions",
    ("transition_approvals", "user_id"): "users",
    ("monitors", "reference_dataset_version_id"): "dataset_versions",
}
#: Rows the target may already hold, matched by these columns (after remapping) and reused.
NATURAL_KEYS = {"users": ("name",), "datasets": ("name",), "dataset_versions": ("dataset_id", "root_hash")}
#: Rows whose name must be new on the target.
MUST_BE_NEW = {"experiments": "name", "registered_models": "name"}
CHUNK = 5000


def table(name: str) -> Table:
    return load_all().tables[name]  # monitor definitions live in a lazily loaded area's table


def refs_of(t: Table) -> dict[str, str]:
    """column -> referenced table, for every reference import must remap."""
    out = {fk.parent.name: fk.column.table.name for fk in t.foreign_keys}
    for c in t.columns:
        if c.name in USER_REFS:
            out[c.name] = "users"
    out.update({col: tgt for (tbl, col), tgt in EXTRA_REFS.items() if tbl == t.name})
    return out


#: Tables other rows point at: their new ids are recorded row by row; other tables go in bulk.
MAPPED = {
    "users",
    "experiments",
    "registered_models",
    "model_versions",
    "transition_requests",
    "datasets",
    "dataset_versions",
}


def _int_pk(t: Table) -> bool:
    pk = list(t.primary_key.columns)
    return len(pk) == 1 and pk[0].name == "id" and pk[0].type.python_type is int


# ---------------------------------------------------------------------- export


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


# ---------------------------------------------------------------------- import


def read_rows(bundle: Path, name: str) -> Iterator[dict[str, Any]]:
    path = bundle / "tables" / f"{name}.jsonl"
    if not path.exists():
        return
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def check_bundle(bundle: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((bundle / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{bundle} is not a Tether bundle ({exc.__class__.__name__})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise InvalidArgument(
            f"{bundle}: unsupported bundle format {manifest.get('format')!r} {manifest.get('version')!r}"
        )
    shas = {r["sha256"] for name in ("artifacts", "model_version_files") for r in read_rows(bundle, name)}
    shas |= {r["local_sha256"] for r in read_rows(bundle, "explanations") if r.get("local_key")}
    for sha in shas:
        if _sha256_file(bundle / "objects" / sha) != sha:
            raise InvalidArgument(f"{bundle}: object {sha} is missing or corrupt")
    return manifest


def _sha256_file(path: Path) -> str | None:
    if not path.exists():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Importer:
    def __init__(
        self, session: Session, store: ArtifactStore, bundle: Path, manifest: dict[str, Any]
    ) -> None:
        self.s, self.store, self.bundle, self.manifest = session, store, bundle, manifest
        self.maps: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self.copied: list[str] = []  # new object keys (removed again if the import fails)
        self.at = now_ms()

    def run(self) -> dict[str, int]:
        counts = {}
        for name in TABLES:
            counts[name] = self._table(table(name))
        self._parent_runs()
        return counts

    def _table(self, t: Table) -> int:
        refs = refs_of(t)
        batch: list[dict[str, Any]] = []
        n = 0
        for row in read_rows(self.bundle, t.name):
            n += 1
            old_id = row.get("id")
            row = self._remap(t, row, refs)
            if _int_pk(t):
                row.pop("id", None)
            if t.name in MAPPED:
                self.maps[t.name][old_id] = self._insert_one(t, row)
            else:
                batch.append(row)
                if len(batch) >= CHUNK:
                    self.s.execute(insert(t), batch)
                    batch = []
        if batch:
            self.s.execute(insert(t), batch)
        return n

    def _remap(self, t: Table, row: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
        for col, target in refs.items():
            v = row.get(col)
            if v is None or target == "runs":  # run ids are global: kept
                continue
            if col == "parent_run_id":
                continue
            mapped = self.maps[target].get(v)
            if mapped is None and target != "users":
                raise InvalidArgument(
                    f"bundle row of {t.name} names {target} {v!r} that is not in the bundle"
                )
            row[col] = mapped
        if t.name == "runs":
            row["parent_run_id"] = None  # set once every run exists (_parent_runs)
        if t.name in MUST_BE_NEW:
            col = MUST_BE_NEW[t.name]
            if self.s.scalar(select(t.c.id).where(t.c[col] == row[col])) is not None:
                raise AlreadyExists(
                    f"{t.name[:-1].replace('_', ' ')} {row[col]!r} already exists on this server"
                )
        if t.name == "registry_policies":
            row["scope"] = f"model:{row['model_id']}"
        if t.name in ("artifacts", "model_version_files"):
            row["storage_key"] = self._copy_object(t.name, row)
        if t.name == "explanations":
            self._explanation(row)
        if t.name == "audit_events":
            details = dict(row.get("details") or {})
            details.setdefault(
                "imported", {"from": self.manifest.get("source"), "original_id": row["id"], "at": self.at}
            )
            row["details"] = details
            if row.get("resource_type") == "experiment" and row.get("resource_id", "").isdigit():
                row["resource_id"] = str(
                    self.maps["experiments"].get(int(row["resource_id"]), row["resource_id"])
                )
        return row

    def _insert_one(self, t: Table, row: dict[str, Any]) -> Any:
        if t.name in NATURAL_KEYS:
            cols = NATURAL_KEYS[t.name]
            found = self.s.scalar(select(t.c.id).where(*[t.c[c] == row[c] for c in cols]))
            if found is not None:
                return found
            if t.name == "users":
                row = {"name": row["name"], "role": row["role"], "active": False}
        result: Any = self.s.execute(insert(t).values(**row))
        return result.inserted_primary_key[0]

    def _copy_object(self, kind: str, row: dict[str, Any]) -> str:
        src = self.bundle / "objects" / row["sha256"]
        if kind == "artifacts":
            from ..artifacts.files import storage_key

            exp = self.s.scalar(
                select(table("runs").c.experiment_id).where(table("runs").c.id == row["run_id"])
            )
            if exp is None:
                raise InvalidArgument(f"artifact of run {row['run_id']!r} whose run is not in the bundle")
            key = storage_key(int(exp), row["run_id"], row["path"], uuid.uuid4().hex)
        else:
            model = self.s.scalar(
                select(table("model_versions").c.model_id).where(
                    table("model_versions").c.id == row["version_id"]
                )
            )
            key = f"registry/{model}/{uuid.uuid4().hex}/{row['path']}"
        with open(src, "rb") as fh:
            obj = self.store.put_stream(key, fh, os.path.getsize(src))
        self.copied.append(key)
        if obj.size != row["size"]:
            raise InvalidArgument(
                f"object {row['sha256']} has {obj.size} bytes, the bundle says {row['size']}"
            )
        return key

    def _explanation(self, row: dict[str, Any]) -> None:
        """Remap the dataset version named inside ``dataset`` (kept by name and hash if it is not in
        the bundle) and copy the local-explanation sample to a key of the new model."""
        ds = dict(row.get("dataset") or {}) or None
        if ds is not None and ds.get("dataset_version_id") is not None:
            new = self.maps["dataset_versions"].get(ds["dataset_version_id"])
            if new is None:
                ds.pop("dataset_version_id")
            else:
                ds["dataset_version_id"] = new
        row["dataset"] = ds
        if row.get("local_key"):
            vt = table("model_versions")
            model = self.s.scalar(select(vt.c.model_id).where(vt.c.id == row["version_id"]))
            key = f"registry/{model}/explanations/{uuid.uuid4().hex}.parquet"
            src = self.bundle / "objects" / row["local_sha256"]
            with open(src, "rb") as fh:
                obj = self.store.put_stream(key, fh, os.path.getsize(src))
            self.copied.append(key)
            if obj.size != row["local_size"]:
                raise InvalidArgument(
                    f"object {row['local_sha256']} has {obj.size} bytes, not {row['local_size']}"
                )
            row["local_key"] = key

    def _parent_runs(self) -> None:
        runs = table("runs")
        rows = list(read_rows(self.bundle, "runs"))
        ids = {r["id"] for r in rows}
        for row in rows:
            parent = row.get("parent_run_id")
            if parent is not None and parent in ids:
                self.s.execute(update(runs).where(runs.c.id == row["id"]).values(parent_run_id=parent))

    def cleanup(self) -> None:
        for key in self.copied:
            try:
                self.store.delete(key)
            except Exception:  # noqa: BLE001,S110  (gc removes what is left)
                pass


def import_bundle(session: Session, store: ArtifactStore, bundle: Path) -> dict[str, int]:
    """Load a bundle in the caller's transaction; objects are copied first and removed again if the
    import fails (the caller rolls the transaction back)."""
    manifest = check_bundle(bundle)
    imp = Importer(session, store, bundle, manifest)
    try:
        counts = imp.run()
        session.flush()
    except BaseException:
        imp.cleanup()
        raise
    return counts
