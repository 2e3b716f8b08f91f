"""Artifacts (recorded only once fully stored), pending uploads, datasets and run inputs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, new_id, now_ms


class Artifact(Base):
    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1500))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("run_id", "path"), Index("ix_artifacts_storage_key", "storage_key"))


class Upload(Base):
    """A direct (presigned) or multipart upload in progress; becomes an Artifact on completion."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    storage_key: Mapped[str] = mapped_column(String(1500))
    s3_upload_id: Mapped[str | None] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    part_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | completed | aborted
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(200))  # given at the start; complete may override


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(250), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[int | None] = mapped_column(Integer)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    root_hash: Mapped[str] = mapped_column(String(64))
    file_count: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    manifest: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{path, size, sha256}]
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    created_by: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("dataset_id", "root_hash"),
        Index("ix_dataset_versions_hash", "root_hash"),
    )


#: A run input's context names as other tools spell them → Tether's three contexts (no context:
#: training). The MLflow layer maps ``mlflow.data.context`` through it, and run search maps a
#: ``datasets.context`` value through it, so a filter finds what was logged under that name.
CONTEXT_ALIASES = {
    "": "training",
    "train": "training",
    "training": "training",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "eval": "evaluation",
    "evaluation": "evaluation",
    "test": "evaluation",
    "testing": "evaluation",
}


class RunInput(Base):
    __tablename__ = "run_inputs"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    context: Mapped[str] = mapped_column(String(32), primary_key=True)  # training | validation | evaluation
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    __table_args__ = (Index("ix_run_inputs_version", "dataset_version_id"),)
