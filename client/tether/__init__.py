"""Tether client SDK: log runs to a Tether server and query them.

    import tether
    with tether.start_run(experiment="churn", name="xgb") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("loss", 0.5, step=1)
        run.log_artifact("model.pkl", artifact_path="model")
        run.log_dataset("data/train.csv", name="churn", context="training")

    with tether.monitor("churn", stage="production") as m:   # production monitoring
        m.log(frame)                                          # binned locally, posted in the background

Only ``requests`` and ``tqdm`` are needed, and ``requests`` is imported on the first request.
"""

from __future__ import annotations

from . import errors, types
from ._client import Client
from ._monitor import Monitor, monitor
from ._retry import RetryPolicy
from ._run import Run, start_run
from ._transport import HTTPResponse, RequestsTransport, Transport
from ._version import __version__
from .errors import (
    AlreadyExistsError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    ArtifactError,
    AuthenticationError,
    BadRequestError,
    ChecksumError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    TetherError,
    UnavailableError,
)
from .resources.artifacts import ArtifactInfo
from .types import (
    Alert,
    BatchResult,
    Deployment,
    Experiment,
    MetricHistory,
    MetricPoint,
    ModelAlias,
    ModelVersion,
    MonitorReference,
    Page,
    RegisteredModel,
    RegistryPolicy,
    TransitionRequest,
)
from .types import Monitor as MonitorInfo
from .types import Run as RunInfo

__all__ = [
    "__version__",
    "Client",
    "Run",
    "RunInfo",
    "start_run",
    "Monitor",
    "MonitorInfo",
    "MonitorReference",
    "Alert",
    "monitor",
    "errors",
    "types",
    "Experiment",
    "MetricPoint",
    "MetricHistory",
    "BatchResult",
    "Page",
    "ArtifactInfo",
    "ArtifactError",
    "ChecksumError",
    "RegisteredModel",
    "ModelVersion",
    "Deployment",
    "ModelAlias",
    "TransitionRequest",
    "RegistryPolicy",
    "RetryPolicy",
    "Transport",
    "HTTPResponse",
    "RequestsTransport",
    "TetherError",
    "APIConnectionError",
    "APITimeoutError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "AlreadyExistsError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "UnavailableError",
    "InternalServerError",
]
