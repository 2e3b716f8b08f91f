"""Garbage collection of the artifact store.

Removes (1) objects no Artifact row refers to (crash between store and commit, failed verification,
client gone mid-way), older than a grace period so in-flight uploads are left alone; (2) the objects
of runs that no longer exist (hard-deleted); (3) pending uploads older than the grace period, whose
parts are aborted. ``dry_run`` only reports.

Registered model versions own the ``registry/`` key space: an object there is kept while a
ModelVersionFile row (or a version's local explanation sample) refers to it, whatever happened to the source run; only unreferenced ones
older than the grace period (a registration that failed after copying) are orphans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Artifact, Run, Upload, now_ms
from ...models.explain import Explanation
from ...models.registry import ModelVersionFile
from ...storage import ArtifactStore

REGISTRY_PREFIX = "registry"  # services/registry.py copies version files to registry/<model>/<uuid>/...


@dataclass
class GcReport:
    orphans: list[str] = field(default_factory=list)
    deleted_run_objects: list[str] = field(default_factory=list)
    stale_uploads: list[str] = field(default_factory=list)
    bytes: int = 0


def collect(
    session: Session,
    store: ArtifactStore,
    *,
    grace_ms: int = 3_600_000,
    dry_run: bool = True,
    purge_deleted_runs: bool = False,
) -> GcReport:
    report = GcReport()
    cutoff = now_ms() - grace_ms
    known = set(session.scalars(select(Artifact.storage_key)))
    live_runs = set(session.scalars(select(Run.id)))
    deleted_runs = (
        set(session.scalars(select(Run.id).where(Run.lifecycle == "deleted")))
        if purge_deleted_runs
        else set()
    )
    pending = set(session.scalars(select(Upload.storage_key).where(Upload.status == "pending")))
    registered = set(session.scalars(select(ModelVersionFile.storage_key)))
    registered |= set(
        session.scalars(select(Explanation.local_key).where(Explanation.local_key.is_not(None)))
    )
    for obj in store.list(""):
        parts = obj.key.split("/")
        if parts[0] == REGISTRY_PREFIX:
            if obj.key in registered or obj.mtime_ms > cutoff:
                continue
            report.orphans.append(obj.key)
        elif (run_id := parts[1] if len(parts) > 2 else "") not in live_runs or run_id in deleted_runs:
            report.deleted_run_objects.append(obj.key)
        elif obj.key not in known and obj.key not in pending and obj.mtime_ms <= cutoff:
            report.orphans.append(obj.key)
        else:
            continue
        report.bytes += obj.size
        if not dry_run:
            store.delete(obj.key)
    for up in session.scalars(select(Upload).where(Upload.status == "pending", Upload.created_at <= cutoff)):
        report.stale_uploads.append(up.id)
        if not dry_run:
            store.multipart_abort(up.storage_key, up.s3_upload_id or "")
            up.status = "aborted"
    return report
