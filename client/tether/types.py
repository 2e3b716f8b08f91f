"""Small dataclasses for what the API returns. ``from_dict`` ignores keys it does not know, so a newer
server can add fields without breaking older clients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._encoding import decode_value

__all__ = [
    "Experiment",
    "Run",
    "MetricPoint",
    "MetricHistory",
    "BatchResult",
    "Page",
    "RegisteredModel",
    "ModelVersion",
    "ModelFile",
    "DatasetRef",
    "Deployment",
    "ModelAlias",
    "Approval",
    "TransitionRequest",
    "RegistryPolicy",
    "Monitor",
    "MonitorReference",
    "Alert",
    "Explanation",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    description: str | None = None
    lifecycle: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int | None = None
    updated_at: int | None = None
    created_by: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Experiment:
        return cls(
            id=int(d["id"]),
            name=d["name"],
            description=d.get("description"),
            lifecycle=d.get("lifecycle", "active"),
            tags=dict(d.get("tags") or {}),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            created_by=d.get("created_by"),
        )


@dataclass(frozen=True, slots=True)
class MetricPoint:
    step: int
    value: float
    timestamp: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricPoint:
        return cls(
            step=int(d.get("step") or 0),
            value=decode_value(d["value"]),
            timestamp=int(d.get("timestamp") or 0),
        )


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    experiment_id: int
    name: str | None = None
    status: str = "RUNNING"
    lifecycle: str = "active"
    start_time: int | None = None
    end_time: int | None = None
    parent_run_id: str | None = None
    created_by: Any = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricPoint] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        metrics = {k: MetricPoint.from_dict(v) for k, v in (d.get("metrics") or {}).items()}
        return cls(
            id=str(d["id"]),
            experiment_id=int(d["experiment_id"]),
            name=d.get("name"),
            status=d.get("status", "RUNNING"),
            lifecycle=d.get("lifecycle", "active"),
            start_time=d.get("start_time"),
            end_time=d.get("end_time"),
            parent_run_id=d.get("parent_run_id"),
            created_by=d.get("created_by"),
            params=dict(d.get("params") or {}),
            tags=dict(d.get("tags") or {}),
            metrics=metrics,
        )


@dataclass(frozen=True, slots=True)
class MetricHistory:
    key: str
    items: list[MetricPoint]
    next_page_token: str | None = None
    downsampled: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricHistory:
        """From the row form (``items``) or the columnar form (``steps``, ``values``, ``timestamps``)."""
        if "steps" in d:
            items = [
                MetricPoint(step, decode_value(value), ts)
                for step, value, ts in zip(d["steps"], d["values"], d["timestamps"], strict=True)
            ]
        else:
            items = [MetricPoint.from_dict(p) for p in d.get("items") or []]
        return cls(
            key=d.get("key", ""),
            items=items,
            next_page_token=d.get("next_page_token"),
            downsampled=bool(d.get("downsampled", False)),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    metrics: int = 0
    params: int = 0
    tags: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BatchResult:
        return cls(
            metrics=int(d.get("metrics", 0)), params=int(d.get("params", 0)), tags=int(d.get("tags", 0))
        )

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(self.metrics + other.metrics, self.params + other.params, self.tags + other.tags)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        return cls(items=[item(x) for x in d.get("items") or []], next_page_token=d.get("next_page_token"))

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------------------- model registry


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


# ---------------------------------------------------------------------------- monitoring


@dataclass(frozen=True, slots=True)
class Monitor:
    """A monitor's settings (``GET /monitors/{id}``); the live handle is ``tether.Monitor``."""

    id: int
    name: str
    model: str = ""
    stage: str | None = None
    alias: str | None = None
    columns: list[str] | None = None
    prediction_column: str | None = None
    label_column: str | None = None
    metric: str | None = None
    window_seconds: int = 3600
    grace_seconds: int = 300
    thresholds: dict[str, Any] = field(default_factory=dict)
    retrain_on_decay: bool = False
    status: str | None = None  # ok | warn | alert, when the server reports it
    created_at: int | None = None
    updated_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields this client does not know

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Monitor:
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra",)}
        return cls(
            id=int(d["id"]),
            name=d["name"],
            model=d.get("model") or "",
            stage=d.get("stage"),
            alias=d.get("alias"),
            columns=list(d["columns"]) if d.get("columns") is not None else None,
            prediction_column=d.get("prediction_column"),
            label_column=d.get("label_column"),
            metric=d.get("metric"),
            window_seconds=int(d.get("window_seconds") or 3600),
            grace_seconds=int(d["grace_seconds"]) if d.get("grace_seconds") is not None else 300,
            thresholds=dict(d.get("thresholds") or {}),
            retrain_on_decay=bool(d.get("retrain_on_decay")),
            status=d.get("status"),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class MonitorReference:
    """What a producer needs to bin data on the reference's edges (``GET /monitors/{id}/reference``)."""

    reference_id: int
    profile: dict[str, Any]
    window_seconds: int = 3600
    columns: list[str] = field(default_factory=list)
    prediction_column: str | None = None
    model_version: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonitorReference:
        profile = dict(d.get("profile") or {})
        return cls(
            reference_id=int(d["reference_id"]),
            profile=profile,
            window_seconds=int(d.get("window_seconds") or 3600),
            columns=list(d.get("columns") or (profile.get("columns") or {}).keys()),
            prediction_column=d.get("prediction_column"),
            model_version=d.get("model_version"),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str
    rule: str
    severity: str
    status: str
    message: str = ""
    column: str | None = None
    monitor_id: int | None = None
    ab_test_id: int | None = None
    model_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    first_window: int | None = None
    last_window: int | None = None
    opened_at: int | None = None
    updated_at: int | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    resolve_comment: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        return cls(
            id=int(d["id"]),
            kind=d.get("kind") or "monitor",
            rule=d["rule"],
            severity=d.get("severity") or "alert",
            status=d.get("status") or "open",
            message=d.get("message") or "",
            column=d.get("column"),
            monitor_id=d.get("monitor_id"),
            ab_test_id=d.get("ab_test_id"),
            model_id=d.get("model_id"),
            details=dict(d.get("details") or {}),
            first_window=d.get("first_window"),
            last_window=d.get("last_window"),
            opened_at=d.get("opened_at"),
            updated_at=d.get("updated_at"),
            acknowledged_by=_user_name(d.get("acknowledged_by")),
            resolved_by=_user_name(d.get("resolved_by")),
            resolve_comment=d.get("resolve_comment") or "",
        )


def _user_name(v: Any) -> str | None:
    if isinstance(v, Mapping):
        return v.get("name") or v.get("username")
    return v


@dataclass(frozen=True, slots=True)
class Explanation(_ItemAccess):
    """A global explanation: importance per feature (largest |importance| first) and its method."""

    importances: dict[str, float]
    method: str
    n_features: int = 0
    dataset: dict[str, Any] | None = None
    per_class: dict[str, dict[str, float]] | None = None
    top_features: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None
    model: str | None = None
    version: int | None = None
    source_run_id: str | None = None
    local_sample: dict[str, Any] | None = None
    updated_at: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Explanation:
        return cls(
            importances={k: float(v) for k, v in (d.get("importances") or {}).items()},
            method=d.get("method") or "",
            n_features=int(d.get("n_features") or 0),
            dataset=d.get("dataset"),
            per_class=d.get("per_class"),
            top_features=list(d.get("top_features") or []),
            run_id=d.get("run_id"),
            model=d.get("model"),
            version=d.get("version"),
            source_run_id=d.get("source_run_id"),
            local_sample=d.get("local_sample"),
            updated_at=d.get("updated_at"),
        )
