"""Model registry: models, immutable versions (with copied files), aliases, reviewed transitions,
promotion policies and the webhook outbox.

Stage history lives in the shared append-only audit table (``model.stage_changed`` rows).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, now_ms

STAGES = ("None", "Staging", "Production", "Archived")


class RegisteredModel(Base):
    __tablename__ = "registered_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    owner_id: Mapped[int | None] = mapped_column(Integer)
    next_version: Mapped[int] = mapped_column(Integer, default=1)  # allocated under a row lock
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), default="None")
    description: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str | None] = mapped_column(String(32), index=True)  # no FK: runs may be purged
    artifact_path: Mapped[str] = mapped_column(String(1000), default="")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)  # bumped on stage/alias change (ETag)
    # model card text a person writes (everything else on the card is generated)
    intended_use: Mapped[str] = mapped_column(Text, default="", server_default="")
    limitations: Mapped[str] = mapped_column(Text, default="", server_default="")
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index("ix_model_versions_stage", "model_id", "stage"),
        # At most one Production version per model, enforced by the database.
        Index(
            "uq_model_versions_one_production",
            "model_id",
            unique=True,
            sqlite_where=text("stage = 'Production'"),
            postgresql_where=text("stage = 'Production'"),
        ),
    )


class ModelVersionFile(Base):
    """The immutable manifest of a version; ``storage_key`` is under registry/<model_id>/<version>/."""

    __tablename__ = "model_version_files"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1500))


class ModelVersionInput(Base):
    """Datasets the source run used, snapshotted at registration (survives run deletion)."""

    __tablename__ = "model_version_inputs"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    context: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(250))
    root_hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_model_version_inputs_dataset", "dataset_version_id"),)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class TransitionRequest(Base):
    __tablename__ = "transition_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected|cancelled
    comment: Mapped[str] = mapped_column(Text, default="")
    archive_existing: Mapped[bool] = mapped_column(Boolean, default=True)
    required_approvals: Mapped[int] = mapped_column(Integer, default=1)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    requested_by_name: Mapped[str] = mapped_column(String(100), default="")
    decided_by_name: Mapped[str | None] = mapped_column(String(100))
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    decided_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        Index("ix_transition_requests_status", "status", "id"),
        Index("ix_transition_requests_model", "model_id", "id"),
        # One pending request per (version, target stage).
        Index(
            "uq_transition_requests_pending",
            "version_id",
            "to_stage",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )


class TransitionApproval(Base):
    __tablename__ = "transition_approvals"
    # the column keeps its first name; in code a transition request's id is ``transition_id``
    transition_id: Mapped[int] = mapped_column(
        "request_id", ForeignKey("transition_requests.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class RegistryPolicy(Base):
    """Approvals per target stage; ``scope`` is "global" or "model:<id>"."""

    __tablename__ = "registry_policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), unique=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    required_approvals: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    archive_existing_production: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # HMAC key: must be readable to sign
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_name: Mapped[str | None] = mapped_column(String(128))  # None: every model
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class WebhookDelivery(Base):
    """The durable outbox and delivery log (written in the event's own transaction)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    last_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(64))  # a short error class, never a body
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
    )
