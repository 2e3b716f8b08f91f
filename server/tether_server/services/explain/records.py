"""The explanation rows themselves, with no registry rules: read, describe, copy a run's explanation
to a new version, and the importances the monitoring evaluator weighs drift with.

This module imports only the ORM models, so ``registry.catalog`` can call ``copy_from_run`` while it
registers a version (the rest of ``explain`` builds on the registry, not the other way round).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import now_ms
from ...models.explain import Explanation

TOP_N = 10


def for_run(session: Session, run_id: str) -> Explanation | None:
    return session.scalar(select(Explanation).where(Explanation.run_id == run_id))


def for_version(session: Session, version_id: int) -> Explanation | None:
    return session.scalar(select(Explanation).where(Explanation.version_id == version_id))


def ranked(importances: dict[str, float]) -> list[tuple[str, float]]:
    """Features by |importance|, largest first (ties by name, so the order is stable)."""
    return sorted(importances.items(), key=lambda kv: (-abs(kv[1]), kv[0]))


def describe(row: Explanation) -> dict[str, Any]:
    order = ranked(row.importances)
    return {
        "run_id": row.run_id,
        "version_id": row.version_id,
        "method": row.method,
        "importances": dict(order),
        "per_class": row.per_class,
        "dataset": row.dataset,
        "n_features": row.n_features,
        "top_features": [
            {"rank": i + 1, "feature": f, "importance": v} for i, (f, v) in enumerate(order[:TOP_N])
        ],
        "source_run_id": row.source_run_id,
        "local_sample": (
            {"rows": row.local_rows, "size": row.local_size, "sha256": row.local_sha256}
            if row.local_key
            else None
        ),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def write(session: Session, row: Explanation | None, values: dict[str, Any], **owner: Any) -> Explanation:
    """Insert or replace (``values``: the checked body); the local sample stays with its row."""
    if row is None:
        row = Explanation(**owner, created_by=values.pop("created_by", None))
        session.add(row)
    values.pop("created_by", None)
    row.method = values["method"]
    row.importances = values["importances"]
    row.per_class = values["per_class"]
    row.dataset = values["dataset"]
    row.n_features = len(values["importances"])
    row.source_run_id = values.get("source_run_id")
    row.updated_at = now_ms()
    session.flush()
    return row


def copy_from_run(session: Session, version_id: int, run_id: str, actor_id: int | None) -> bool:
    """At registration: the version gets its own copy of the run's explanation (if any)."""
    src = for_run(session, run_id)
    if src is None:
        return False
    write(
        session,
        None,
        {
            "method": src.method,
            "importances": dict(src.importances),
            "per_class": src.per_class,
            "dataset": src.dataset,
            "source_run_id": run_id,
            "created_by": actor_id,
        },
        version_id=version_id,
    )
    return True


def importances_for_version(session: Session, version_id: int) -> dict[str, float] | None:
    """The global importances of a model version (``None`` if it has no explanation).

    The monitoring evaluator passes them to ``stats.importance_drift_share`` for the
    importance-weighted dataset-drift rule. Values are |importance| (a negative coefficient matters
    as much as a positive one)."""
    row = session.scalar(select(Explanation.importances).where(Explanation.version_id == version_id))
    if row is None:
        return None
    return {k: abs(float(v)) for k, v in row.items()}
