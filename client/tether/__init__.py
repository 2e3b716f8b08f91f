"""Tether client SDK: log runs to a Tether server and query them.

    import tether
    with tether.start_run(experiment="churn", name="xgb") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("loss", 0.5, step=1)
        run.log_artifact("model.pkl", artifact_path="model")
        run.log_dataset("data/train.csv", name="churn", context="training")

    with tether.monitor("churn", stage="production") as m:   # production monitoring
        m.log(frame)                                          # binned locally, posted in the background

Only ``requests`` and ``tqdm`` are needed, and ``requests`` is imported on the first request. The names
below are loaded on first use (PEP 562), so a program that only needs one part of the package (the
server reads ``tether._pathrules`` and ``tether.monitoring``) does not load the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
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

#: public name -> (module, attribute); ``None`` as the attribute means the submodule itself.
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "errors": (".errors", None),
    "types": (".types", None),
    "Client": ("._client", "Client"),
    "Monitor": ("._monitor", "Monitor"),
    "monitor": ("._monitor", "monitor"),
    "RetryPolicy": ("._retry", "RetryPolicy"),
    "Run": ("._run", "Run"),
    "start_run": ("._run", "start_run"),
    "HTTPResponse": ("._transport", "HTTPResponse"),
    "RequestsTransport": ("._transport", "RequestsTransport"),
    "Transport": ("._transport", "Transport"),
    "ArtifactInfo": (".resources.artifacts", "ArtifactInfo"),
    "MonitorInfo": (".types", "Monitor"),
    "RunInfo": (".types", "Run"),
    **{
        name: (".errors", name)
        for name in (
            "AlreadyExistsError",
            "APIConnectionError",
            "APIError",
            "APITimeoutError",
            "ArtifactError",
            "AuthenticationError",
            "BadRequestError",
            "ChecksumError",
            "ConflictError",
            "InternalServerError",
            "NotFoundError",
            "PayloadTooLargeError",
            "PermissionDeniedError",
            "RateLimitError",
            "TetherError",
            "UnavailableError",
        )
    },
    **{
        name: (".types", name)
        for name in (
            "Alert",
            "BatchResult",
            "Deployment",
            "Experiment",
            "MetricHistory",
            "MetricPoint",
            "ModelAlias",
            "ModelVersion",
            "MonitorReference",
            "Page",
            "RegisteredModel",
            "RegistryPolicy",
            "TransitionRequest",
        )
    },
}


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(target[0], __name__)
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
