"""Run-centric sugar: ``tether.start_run()`` and the live ``Run`` handle it returns."""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from . import types
from ._buffer import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_RETRY_WINDOW,
    MetricBuffer,
)
from ._client import Client
from ._encoding import encode_value
from ._spool import Spool, batch_entry, status_entry
from .resources.artifacts import ArtifactInfo
from .resources.runs import now_ms, param_value

__all__ = ["Run", "start_run"]

logger = logging.getLogger(__name__)

_live_runs: set[Run] = set()
_live_lock = threading.Lock()
_atexit_registered = False


class Run:
    """A RUNNING run you log to. Metrics are buffered and sent in background batches; params and
    tags are sent at once. Use it as a context manager, or call ``end()`` (an atexit hook ends runs
    that are still open when the interpreter exits)."""

    def __init__(
        self,
        client: Client,
        info: types.Run,
        *,
        owns_client: bool = False,
        buffer_size: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        retry_window: float = DEFAULT_RETRY_WINDOW,
    ) -> None:
        self.client = client
        self.info = info
        self.id = info.id
        self.experiment_id = info.experiment_id
        self._owns_client = owns_client
        self._ended = False
        self._end_lock = threading.Lock()
        self._spool = Spool(client, info.id, client.spool_dir, retry=client.retry)
        self._buffer = MetricBuffer(
            self._send_metrics,
            capacity=buffer_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            retry_window=retry_window,
            new_key=client.new_idempotency_key,
            retry=client.retry,
            name=f"tether-metrics-{info.id}",
            spool=self._spool_batch,
        )
        _track(self)

    def __repr__(self) -> str:
        return f"<tether.Run id={self.id!r} experiment_id={self.experiment_id} name={self.info.name!r}>"

    @property
    def name(self) -> str | None:
        return self.info.name

    @property
    def ended(self) -> bool:
        return self._ended

    # ------------------------------------------------------------------ logging

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Queue one point (``timestamp`` defaults to now, in ms). Blocks only if the buffer is full."""
        self._buffer.put([_point(key, value, step, now_ms() if timestamp is None else timestamp)])

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        ts = now_ms() if timestamp is None else timestamp
        self._buffer.put([_point(k, v, step, ts) for k, v in metrics.items()])

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Send params now (values become strings with ``str()``). Params are immutable: logging a
        key again with a different value raises ``AlreadyExistsError``."""
        if params:
            self._spool_batch({"params": {str(k): param_value(v) for k, v in params.items()}})

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if tags:
            self._spool_batch({"tags": {str(k): param_value(v) for k, v in tags.items()}})

    # ------------------------------------------------------------------ artifacts and datasets

    def log_artifact(
        self,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: bool | None = None,
    ) -> ArtifactInfo:
        """Upload a file as ``<artifact_path>/<file name>`` (``artifact_path`` is a folder in the
        run's artifacts; None: the root). Large files go in parallel, resumable parts."""
        return self.client.artifacts.upload(self.id, local_path, artifact_path, progress=progress)

    def log_artifacts(
        self,
        local_dir: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        progress: bool | None = None,
    ) -> list[ArtifactInfo]:
        """Upload every file under ``local_dir``, keeping the tree, under ``artifact_path``."""
        return self.client.artifacts.upload_dir(self.id, local_dir, artifact_path, progress=progress)

    def log_dataset(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        context: str = "training",
        profile: bool = True,
        upload: bool = False,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Record the data this run used: hashes ``path`` locally (per-file sha256 and a Merkle root),
        plus schema and profile for CSV/Parquet when ``profile``. Nothing is uploaded unless
        ``upload=True`` (then the files go to the run's artifacts under ``datasets/<name>/``).
        Logging the same content again reuses the version."""
        return self.client.datasets.log(
            self.id, path, name=name, context=context, profile=profile, upload=upload, source=source
        )

    def log_explanation(
        self,
        importances: Mapping[str, float] | Any,
        *,
        method: str,
        dataset: Any = None,
        per_class: Mapping[str, Any] | None = None,
    ) -> types.Explanation:
        """Record what the model relies on: an importance per feature (``method``: "permutation",
        "shap", "gain", "coefficient" or free text), optionally per class, and the dataset it was
        computed on (a (name, hash) pair, or a mapping with name and hash). Every model version
        registered from this run carries it. Logging again replaces it."""
        return self.client.runs.set_explanation(
            self.id, importances, method=method, dataset=dataset, per_class=per_class
        )

    def flush(self, timeout: float | None = None) -> None:
        """Block until every metric logged so far has been sent; raise a failure of a past batch."""
        self._buffer.flush(timeout)

    def refresh(self) -> types.Run:
        """Fetch the run as the server has it now (params, tags, latest metrics)."""
        self.info = self.client.runs.get(self.id)
        return self.info

    # ------------------------------------------------------------------ ending

    def end(self, status: str = "FINISHED") -> None:
        """Flush the metrics, then set ``status`` (FINISHED, FAILED or KILLED) and end_time. Idempotent.

        A stored buffer error is raised after the status was set."""
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        _untrack(self)
        buffer_error: BaseException | None = None
        try:
            self._buffer.close()
        except BaseException as exc:
            buffer_error = exc
        try:
            self._finish(status)
        except Exception:
            if buffer_error is None:
                raise
            logger.exception("Could not set run %s to %s", self.id, status)
        finally:
            try:
                if self._spool.active:
                    self._spool.wait_drained(self.client.spool_wait)
                self._spool.close()  # one line on stderr if anything is left on disk
            finally:
                if self._owns_client:
                    self.client.close()
        if buffer_error is not None:
            raise buffer_error

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.end("FINISHED")
            return
        try:
            self.end(_status_for(exc_type))
        except Exception:  # do not hide the error that ended the block
            logger.exception("While ending run %s after %s", self.id, exc_type.__name__)

    def _send_metrics(self, payload: Mapping[str, Any], idempotency_key: str) -> None:
        self.client.runs.send_batch(self.id, payload, idempotency_key)

    def _spool_batch(self, body: Mapping[str, Any], key: str | None = None) -> None:
        """Send a batch now, or keep it in the spool while the server is away (see ``_spool``)."""
        key = key or self.client.new_idempotency_key()
        self._spool.submit(batch_entry(self.client.base_url, self.id, body, key))

    def _finish(self, status: str) -> None:
        end_time = now_ms()
        if not self._spool.active:
            try:
                self.info = self.client.runs.finish(self.id, status, end_time=end_time)
                return
            except Exception as exc:
                if not self.client.retry.retryable_error(exc):
                    raise
        self._spool.submit(status_entry(self.client.base_url, self.id, status, end_time))
        self.info = replace(self.info, status=status, end_time=end_time)


def start_run(
    experiment: str | None = None,
    *,
    experiment_id: int | None = None,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    client: Client | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    buffer_size: int = DEFAULT_CAPACITY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    retry_window: float = DEFAULT_RETRY_WINDOW,
) -> Run:
    """Start (or with ``run_id``, resume) a run and return its ``Run`` handle.

    The experiment is ``experiment_id``, or ``experiment`` by name (created if missing), or
    ``TETHER_EXPERIMENT``, or "Default". Without ``client`` a ``Client()`` is built from the
    environment and closed when the run ends.
    """
    owns = client is None
    c = client if client is not None else Client()
    try:
        info = (
            _resume(c, run_id, tags)
            if run_id
            else _create(c, experiment, experiment_id, name, tags, parent_run_id)
        )
    except BaseException:
        if owns:
            c.close()
        raise
    return Run(
        c,
        info,
        owns_client=owns,
        buffer_size=buffer_size,
        batch_size=batch_size,
        flush_interval=flush_interval,
        retry_window=retry_window,
    )


def _create(
    c: Client,
    experiment: str | None,
    experiment_id: int | None,
    name: str | None,
    tags: Mapping[str, Any] | None,
    parent_run_id: str | None,
) -> types.Run:
    if experiment_id is None:
        exp_name = experiment or os.environ.get("TETHER_EXPERIMENT") or "Default"
        experiment_id = c.experiments.get_or_create(exp_name).id
    return c.runs.create(experiment_id, name=name, tags=tags, parent_run_id=parent_run_id)


def _resume(c: Client, run_id: str, tags: Mapping[str, Any] | None) -> types.Run:
    info = c.runs.get(run_id)
    if info.status != "RUNNING":
        info = c.runs.update(run_id, status="RUNNING")
    if tags:
        c.runs.log_batch(run_id, tags=tags)
    return info


def _point(key: str, value: float, step: int | None, ts: int) -> tuple[str, float | str, int, int]:
    if not isinstance(key, str) or not key:
        raise TypeError(f"metric key must be a non-empty str, got {key!r}")
    v = float(value)
    return (key, v if math.isfinite(v) else encode_value(v), int(step or 0), int(ts))


def _status_for(exc_type: type[BaseException] | None) -> str:
    if exc_type is None:
        return "FINISHED"
    return "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"


# ---------------------------------------------------------------------- process exit


def _track(run: Run) -> None:
    global _atexit_registered
    with _live_lock:
        _live_runs.add(run)
        if not _atexit_registered:
            atexit.register(_end_live_runs)
            _atexit_registered = True


def _untrack(run: Run) -> None:
    with _live_lock:
        _live_runs.discard(run)


def _end_live_runs() -> None:
    """At exit, end runs that were never ended: FAILED/KILLED if the program died of an exception."""
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    status = _status_for(type(last) if last is not None else None)
    with _live_lock:
        runs = list(_live_runs)
    for run in runs:
        try:
            run.end(status)
        except Exception:
            logger.exception("Could not end run %s at exit", run.id)
