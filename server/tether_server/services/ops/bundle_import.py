"""``tether import``: check a bundle and load it with new ids (format in ``bundle``).

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
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from ...errors import AlreadyExists, InvalidArgument
from ...models import now_ms
from ...storage import ArtifactStore
from .bundle import (
    CHUNK,
    FORMAT,
    MAPPED,
    MUST_BE_NEW,
    NATURAL_KEYS,
    TABLES,
    VERSION,
    _int_pk,
    read_rows,
    refs_of,
    table,
)


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
            key = f"registry/{self._model_of(row['version_id'])}/{uuid.uuid4().hex}/{row['path']}"
        self._put(src, key, row["sha256"], row["size"])
        return key

    def _model_of(self, version_id: Any) -> Any:
        vt = table("model_versions")
        return self.s.scalar(select(vt.c.model_id).where(vt.c.id == version_id))

    def _put(self, src: Path, key: str, sha256: str, size: int) -> None:
        """Copy a bundle object to ``key`` (recorded for cleanup) and check its size."""
        with open(src, "rb") as fh:
            obj = self.store.put_stream(key, fh, os.path.getsize(src))
        self.copied.append(key)
        if obj.size != size:
            raise InvalidArgument(f"object {sha256} has {obj.size} bytes, the bundle says {size}")

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
            key = f"registry/{self._model_of(row['version_id'])}/explanations/{uuid.uuid4().hex}.parquet"
            self._put(
                self.bundle / "objects" / row["local_sha256"], key, row["local_sha256"], row["local_size"]
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
