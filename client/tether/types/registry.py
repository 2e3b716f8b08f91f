"""The model registry: models, versions, files, deployments, aliases, reviewed transitions and
policies. Their ``obj["key"]`` spelling is deprecated (``_ItemAccess``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _ItemAccess:
    """``obj["key"]`` as a deprecated spelling of ``obj.key``: the registry calls returned plain
    dicts before they returned these types, and old code keeps working (with a warning)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        warnings.warn(
            f"{type(self).__name__}[{key!r}] is deprecated; use the attribute .{key}",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None


@dataclass(frozen=True, slots=True)
class RegisteredModel(_ItemAccess):
    id: int
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    owner_id: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    latest_version: int | None = None
    stages: dict[str, list[int]] = field(default_factory=dict)  # stage -> versions in it
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegisteredModel:
        return cls(
            id=int(d["id"]),
            name=d["name"],
            description=d.get("description") or "",
            tags=dict(d.get("tags") or {}),
            owner_id=d.get("owner_id"),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            latest_version=d.get("latest_version"),
            stages={k: [int(v) for v in vs] for k, vs in (d.get("stages") or {}).items()},
            aliases={k: int(v) for k, v in (d.get("aliases") or {}).items()},
        )


def _version_fields(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "model": d.get("model", ""),
        "version": int(d["version"]),
        "stage": d.get("stage") or "None",
        "aliases": list(d.get("aliases") or []),
        "run_id": d.get("run_id"),
        "artifact_path": d.get("artifact_path") or "",
        "description": d.get("description") or "",
        "metadata": dict(d.get("metadata") or {}),
        "total_bytes": int(d.get("total_bytes") or 0),
        "created_at": d.get("created_at"),
        "updated_at": d.get("updated_at"),
    }


@dataclass(frozen=True, slots=True)
class ModelVersion(_ItemAccess):
    model: str
    version: int
    stage: str = "None"
    aliases: list[str] = field(default_factory=list)
    run_id: str | None = None
    artifact_path: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    total_bytes: int = 0
    created_at: int | None = None
    updated_at: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelVersion:
        return cls(**_version_fields(d))


@dataclass(frozen=True, slots=True)
class ModelFile(_ItemAccess):
    path: str
    size: int
    sha256: str
    download_url: str = ""  # presigned on S3, proxied through the server otherwise

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelFile:
        return cls(
            path=d["path"], size=int(d["size"]), sha256=d["sha256"], download_url=d.get("download_url") or ""
        )


@dataclass(frozen=True, slots=True)
class DatasetRef(_ItemAccess):
    name: str
    hash: str
    context: str = ""
    dataset_version_id: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetRef:
        return cls(
            name=d["name"],
            hash=d["hash"],
            context=d.get("context") or "",
            dataset_version_id=d.get("dataset_version_id"),
        )


@dataclass(frozen=True, slots=True)
class Deployment(ModelVersion):
    """A version with everything needed to deploy it, in one call: the datasets its run trained
    on, the file manifest (sha256, size, download URL) and a URL of the whole version as one archive."""

    datasets: list[DatasetRef] = field(default_factory=list)
    files: list[ModelFile] = field(default_factory=list)
    archive_url: str | None = None
    explanation_url: str | None = None  # None: no explanation recorded for the version
    card_url: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Deployment:
        return cls(
            **_version_fields(d),
            datasets=[DatasetRef.from_dict(x) for x in d.get("datasets") or []],
            files=[ModelFile.from_dict(x) for x in d.get("files") or []],
            archive_url=d.get("archive_url"),
            explanation_url=d.get("explanation_url"),
            card_url=d.get("card_url"),
        )


@dataclass(frozen=True, slots=True)
class ModelAlias(_ItemAccess):
    model: str
    alias: str
    version: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelAlias:
        return cls(model=d.get("model", ""), alias=d["alias"], version=int(d["version"]))


@dataclass(frozen=True, slots=True)
class Approval(_ItemAccess):
    user: str
    comment: str = ""
    created_at: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Approval:
        return cls(user=d.get("user", ""), comment=d.get("comment") or "", created_at=d.get("created_at"))


@dataclass(frozen=True, slots=True)
class TransitionRequest(_ItemAccess):
    """A request to move a version to another stage (four eyes: someone else approves it)."""

    id: int
    model: str
    version: int
    to_stage: str
    from_stage: str = "None"
    status: str = "pending"  # pending, approved, rejected or cancelled
    comment: str = ""
    archive_existing: bool = True
    required_approvals: int = 1
    approvals: list[Approval] = field(default_factory=list)
    requested_by: str = ""
    created_at: int | None = None
    decided_at: int | None = None
    decided_by: str | None = None
    decision_comment: str = ""
    # only from get_request: candidate vs Production explanation (overlap, rank changes, correlations)
    explanation_comparison: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TransitionRequest:
        return cls(
            id=int(d["id"]),
            model=d.get("model", ""),
            version=int(d["version"]),
            to_stage=d["to_stage"],
            from_stage=d.get("from_stage") or "None",
            status=d.get("status") or "pending",
            comment=d.get("comment") or "",
            archive_existing=bool(d.get("archive_existing", True)),
            required_approvals=int(d.get("required_approvals") or 0),
            approvals=[Approval.from_dict(a) for a in d.get("approvals") or []],
            requested_by=d.get("requested_by") or "",
            created_at=d.get("created_at"),
            decided_at=d.get("decided_at"),
            decided_by=d.get("decided_by"),
            decision_comment=d.get("decision_comment") or "",
            explanation_comparison=d.get("explanation_comparison"),
        )


@dataclass(frozen=True, slots=True)
class RegistryPolicy(_ItemAccess):
    """Approvals needed per target stage; ``model`` is None for the global policy."""

    required_approvals: dict[str, int] = field(default_factory=dict)
    archive_existing_production: bool = True
    model: str | None = None
    source: str = ""  # where the effective policy comes from (the model's own, or global)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegistryPolicy:
        return cls(
            required_approvals={k: int(v) for k, v in (d.get("required_approvals") or {}).items()},
            archive_existing_production=bool(d.get("archive_existing_production", True)),
            model=d.get("model"),
            source=d.get("source") or "",
        )
