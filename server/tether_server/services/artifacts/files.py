"""Artifacts: path rules, proxied streaming, multipart (proxied or presigned) uploads, listing.

Integrity rule: an ``Artifact`` row is written only after the object is completely stored and its
size and sha256 are known (proxied: hashed while streaming; multipart: read back and verified).
Anything stored that never got a row (a crash between store and commit) is an orphan for ``gc``.
Functions here never hold a database write transaction while bytes move.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tether import _pathrules as pathrules

from ...access import Principal
from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ...models import Artifact, Experiment, Run, Upload, now_ms
from ...storage import ArtifactStore, ObjectBody
from .. import paging
from ..tracking import runs

MAX_PATH = pathrules.MAX_PATH
MAX_SEGMENT = pathrules.MAX_SEGMENT
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 16 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
PRESIGN_SECONDS = 3600


# ---------------------------------------------------------------- paths


def _bad(raw: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid artifact path: {why}", {"field": "path", "path": raw[:200]})


def check_path(raw: Any, *, allow_empty: bool = False) -> str:
    """Canonical relative POSIX path, or 400 for traversal, encoded traversal and odd characters
    (the rules live in ``tether._pathrules``, shared with the SDK, which checks before sending)."""
    try:
        return pathrules.check_artifact_path(raw, allow_empty=allow_empty)
    except pathrules.PathRuleError as e:
        raise _bad(e.path, e.reason) from None


def storage_key(experiment_id: int, run_id: str, path: str, upload_id: str | None = None) -> str:
    """``<experiment>/<run>/artifacts/<path>~<upload id>``: every upload writes its own object, so two
    uploads racing for one path never share bytes; the row records the key of the one that won."""
    return f"{experiment_id}/{run_id}/artifacts/{path}~{upload_id or uuid.uuid4().hex[:16]}"


def run_prefix(experiment_id: int, run_id: str) -> str:
    return f"{experiment_id}/{run_id}/"


# ---------------------------------------------------------------- access


@dataclass(frozen=True)
class Target:
    run_id: str
    experiment_id: int
    path: str
    key: str  # this upload's own object key (see ``storage_key``)


def writable_target(session: Session, actor: Principal, run_id: str, path: str) -> Target:
    """Uploads go to active runs in any status (reports attach after FINISHED); deleted → 409."""
    run = runs.get_run(session, actor, run_id, "EDIT")
    exp_life = session.scalar(select(Experiment.lifecycle).where(Experiment.id == run.experiment_id))
    if run.lifecycle != "active" or exp_life != "active":
        raise FailedPrecondition(
            f"Run {run_id!r} is deleted; it accepts no artifacts", {"lifecycle": run.lifecycle}
        )
    return Target(run.id, run.experiment_id, path, storage_key(run.experiment_id, run.id, path))


def new_upload_target(session: Session, actor: Principal, run_id: str, path: str) -> Target:
    target = writable_target(session, actor, run_id, path)
    existing = find(session, run_id, path)
    if existing is not None:
        raise AlreadyExists(
            f"Artifact {path!r} already exists in run {run_id!r}; delete it first",
            {"path": path, "sha256": existing.sha256, "size": existing.size},
        )
    return target


def find(session: Session, run_id: str, path: str) -> Artifact | None:
    return session.scalar(select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path))


def get_artifact(session: Session, actor: Principal, run_id: str, path: str) -> Artifact:
    runs.get_run(session, actor, run_id, "READ")
    art = find(session, run_id, path)
    if art is None:
        raise NotFound(f"Artifact {path!r} not found in run {run_id!r}")
    return art


# ---------------------------------------------------------------- recording


def record(
    session: Session,
    actor: Principal,
    target: Target,
    size: int,
    sha256: str,
    content_type: str,
    store: ArtifactStore,
) -> Artifact:
    """Insert the row for a stored object; if that fails, remove the object (no orphan left)."""
    try:
        writable_target(session, actor, target.run_id, target.path)
        if find(session, target.run_id, target.path) is not None:
            raise AlreadyExists(f"Artifact {target.path!r} was written concurrently", {"path": target.path})
        art = Artifact(
            run_id=target.run_id,
            path=target.path,
            size=size,
            sha256=sha256,
            storage_key=target.key,
            content_type=(content_type or "application/octet-stream")[:200],
            created_by=actor.id,
            created_at=now_ms(),
        )
        session.add(art)
        session.flush()
        return art
    except (AlreadyExists, IntegrityError):
        store.delete(target.key)  # this upload's own object: the winner's bytes are under another key
        raise AlreadyExists(
            f"Artifact {target.path!r} was written concurrently", {"path": target.path}
        ) from None
    except Exception:
        store.delete(target.key)
        raise


class HashingReader:
    """Wraps a byte stream; hashes and counts what passes through."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def stream_in(
    store: ArtifactStore, target: Target, stream: IO[bytes], length: int | None, expected_sha256: str | None
) -> tuple[int, str]:
    reader = HashingReader(stream)
    store.put_stream(target.key, reader, length)  # type: ignore[arg-type]
    sha = reader.sha.hexdigest()
    if (length is not None and reader.size != length) or (expected_sha256 and expected_sha256 != sha):
        store.delete(target.key)
        raise InvalidArgument(
            "Uploaded content does not match its declared size or sha256",
            {"size": reader.size, "sha256": sha, "expected_sha256": expected_sha256},
        )
    return reader.size, sha


def hash_object(store: ArtifactStore, key: str) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    for chunk in store.open(key):
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def delete_artifact(session: Session, actor: Principal, store: ArtifactStore, run_id: str, path: str) -> None:
    runs.get_run(session, actor, run_id, "EDIT")
    art = find(session, run_id, path)
    if art is None:
        raise NotFound(f"Artifact {path!r} not found in run {run_id!r}")
    key = art.storage_key
    session.delete(art)
    session.flush()
    store.delete(key)  # a store failure raises and rolls the row deletion back


def list_artifacts(
    session: Session, actor: Principal, run_id: str, prefix: str, max_results: int, page_token: str | None
) -> tuple[list[Artifact], str | None]:
    runs.get_run(session, actor, run_id, "READ")
    scope = paging.scope_of("artifacts", run_id, prefix)
    after = (paging.decode(page_token, scope) or {}).get("after", "")
    q = select(Artifact).where(Artifact.run_id == run_id, Artifact.path > after)
    if prefix:
        q = q.where(Artifact.path.startswith(prefix, autoescape=True))
    rows = list(session.scalars(q.order_by(Artifact.path).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "after", lambda r: r.path)


# ---------------------------------------------------------------- multipart uploads


def plan_parts(size: int, wanted: int | None, minimum: int) -> tuple[int, int]:
    part = max(minimum, min(wanted or DEFAULT_PART_SIZE, MAX_PART_SIZE))
    part = max(part, math.ceil(size / MAX_PARTS))
    return part, max(1, math.ceil(size / part))


def part_length(upload: Upload, n: int) -> int:
    count = max(1, math.ceil(upload.size / upload.part_size))
    if not 1 <= n <= count:
        raise InvalidArgument(f"part_number must be 1..{count}", {"field": "part_number"})
    return upload.part_size if n < count else upload.size - upload.part_size * (count - 1)


def part_count(upload: Upload) -> int:
    return max(1, math.ceil(upload.size / upload.part_size))


def start_upload(
    session: Session,
    actor: Principal,
    store: ArtifactStore,
    run_id: str,
    path: str,
    size: int,
    sha256: str,
    part_size: int | None,
    content_type: str | None = None,
) -> Upload:
    target = new_upload_target(session, actor, run_id, path)
    psize, _count = plan_parts(size, part_size, store.min_part_size)
    store_upload_id = store.multipart_start(target.key)
    up = Upload(
        run_id=run_id,
        path=path,
        storage_key=target.key,
        s3_upload_id=store_upload_id,
        size=size,
        sha256=sha256.lower(),
        part_size=psize,
        status="pending",
        created_by=actor.id,
        content_type=record_content_type(content_type) if content_type else None,
    )
    session.add(up)
    session.flush()
    return up


def get_upload(
    session: Session, actor: Principal, run_id: str, upload_id: str, level: str = "EDIT"
) -> Upload:
    runs.get_run(session, actor, run_id, level)
    up = session.get(Upload, upload_id) if len(upload_id) <= 32 else None
    if up is None or up.run_id != run_id:
        raise NotFound(f"Upload {upload_id[:40]!r} not found")
    return up


def pending_upload(session: Session, actor: Principal, run_id: str, upload_id: str) -> Upload:
    up = get_upload(session, actor, run_id, upload_id)
    if up.status != "pending":
        raise FailedPrecondition(f"Upload {upload_id!r} is {up.status}", {"status": up.status})
    writable_target(session, actor, run_id, up.path)
    return up


def describe_upload(up: Upload, store: ArtifactStore, done: dict[int, int] | None) -> dict[str, Any]:
    direct = store.supports_presign
    count = part_count(up)
    out: dict[str, Any] = {
        "upload_id": up.id,
        "path": up.path,
        "size": up.size,
        "sha256": up.sha256,
        "part_size": up.part_size,
        "part_count": count,
        "status": up.status,
        "mode": "direct" if direct else "proxy",
        "parts_done": sorted(done or {}),
        "parts": [],
    }
    if direct and up.status == "pending":
        out["expires_in"] = PRESIGN_SECONDS
        out["parts"] = [
            {
                "part_number": n,
                "url": store.presign_part(up.storage_key, up.s3_upload_id or "", n, PRESIGN_SECONDS),
            }
            for n in range(1, count + 1)
            if n not in (done or {})
        ]
    return out


def finish_upload(store: ArtifactStore, up: Upload) -> tuple[int, str]:
    """Assemble the parts, then read the object back and check its size and sha256."""
    store.multipart_complete(up.storage_key, up.s3_upload_id or "", part_count(up))
    size, sha = hash_object(store, up.storage_key)
    if size != up.size or sha != up.sha256:
        store.delete(up.storage_key)
        raise InvalidArgument(
            "The uploaded object does not match the declared size/sha256; it was removed",
            {"size": size, "sha256": sha, "expected_size": up.size, "expected_sha256": up.sha256},
        )
    return size, sha


def abort_upload(
    session: Session, actor: Principal, store: ArtifactStore, run_id: str, upload_id: str
) -> Upload:
    up = get_upload(session, actor, run_id, upload_id)
    if up.status == "completed":
        raise FailedPrecondition(f"Upload {upload_id!r} is already completed")
    store.multipart_abort(up.storage_key, up.s3_upload_id or "")
    up.status = "aborted"
    return up


def byte_iter(store: ArtifactStore, key: str, start: int, end: int | None) -> ObjectBody:
    return store.open(key, start, end)


# ---------------------------------------------------------------- serving stored files safely

_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ACTIVE = (
    "html",
    "xml",
    "svg",
    "script",
    "xsl",
    "flash",
    "multipart",
    "cache-manifest",
    "pdf",
    "rdf",
    "mathml",
    "wasm",
)
FILE_CSP = "sandbox; default-src 'none'"


def record_content_type(raw: str | None) -> str:
    """What to store for a client-declared type: its lower-cased ``type/subtype`` (parameters dropped),
    or application/octet-stream when missing or malformed."""
    base = (raw or "").split(";", 1)[0].strip().lower()
    return base if _MIME.match(base) else "application/octet-stream"


def served_content_type(stored: str | None) -> str:
    """The type a stored file is served with: never one a browser would run or render as a document
    (HTML, SVG, XML, JavaScript, ...); those and anything malformed become application/octet-stream."""
    base = record_content_type(stored)
    if (
        any(word in base for word in _ACTIVE)
        or base.startswith("text/")
        and base not in ("text/plain", "text/csv")
    ):
        return "application/octet-stream"
    return base


def file_headers(path: str, content_type: str | None) -> dict[str, str]:
    """Headers for a stored file: a download (attachment), a safe type, no sniffing, a sandbox CSP."""
    name = path.rsplit("/", 1)[-1] or "download"
    return {
        "Content-Type": served_content_type(content_type),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
    }


SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def experiment_of(session: Session, run_id: str) -> int:
    exp = session.scalar(select(Run.experiment_id).where(Run.id == run_id))
    if exp is None:
        raise NotFound(f"Run {run_id!r} not found")
    return exp


def mark_upload(session: Session, upload_id: str, status: str) -> None:
    up = session.get(Upload, upload_id)
    if up is not None:
        up.status = status
