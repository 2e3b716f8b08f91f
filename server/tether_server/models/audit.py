"""The one append-only audit table, shared by identity and registry events.

Database triggers (see the migration) refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, now_ms


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(64))  # e.g. auth.login, token.created, model.version_created
    resource_type: Mapped[str] = mapped_column(String(32), default="")  # user, token, experiment, model, ...
    resource_id: Mapped[str] = mapped_column(String(250), default="")
    model_name: Mapped[str | None] = mapped_column(String(250))  # set for registry events (filter ?model=)
    from_value: Mapped[str | None] = mapped_column(String(250))
    to_value: Mapped[str | None] = mapped_column(String(250))
    comment: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    __table_args__ = (
        Index("ix_audit_events_ts", "ts"),
        Index("ix_audit_events_model", "model_name", "ts"),
        Index("ix_audit_events_action", "action", "ts"),
    )
