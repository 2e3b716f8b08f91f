"""Idempotency-Key support: the first answer is stored with the write it describes and replayed."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...errors import InvalidArgument
from ...models import IdempotencyRecord, now_ms

RETENTION_MS = 7 * 24 * 3600 * 1000


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 200 or not key.isascii() or not key.isprintable():
        raise InvalidArgument("Idempotency-Key must be 1-200 printable ASCII characters")
    return key


def lookup(session: Session, key: str, scope: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.key == key, IdempotencyRecord.scope == scope)
    )


def remember(session: Session, key: str, scope: str, user_id: int | None, status: int, body: str) -> None:
    session.add(IdempotencyRecord(key=key, scope=scope, user_id=user_id, status=status, body=body))
    session.flush()


def prune(session: Session, now: int | None = None) -> int:
    res = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < (now or now_ms()) - RETENTION_MS)
    )
    return res.rowcount or 0  # type: ignore[attr-defined]
