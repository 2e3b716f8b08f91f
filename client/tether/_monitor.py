"""``tether.monitor()`` and the live ``Monitor`` handle: summarise production data client-side.

    m = tether.monitor("churn", stage="production")
    m.log(frame)                          # pandas / pyarrow / polars frame, or a list of dicts
    m.log_labels(y_true=labels, y_score=scores, timestamp=when_predicted)
    m.close()                             # or use it as a context manager; an atexit hook flushes

The reference (the live version's bins) is fetched once. ``log`` groups rows into the monitor's
windows by their ``timestamp`` column (epoch ms or datetimes; default: now), bins each group with
``tether.monitoring.build_summary`` in the calling thread, and hands the summaries to a background
thread that merges them per window and posts each window's whole summary under this handle's
``source`` id (``tether._window_buffer``). When the live version changes, the server answers a post
with 409 and the new reference: the handle re-bins the rows it retained on the new edges and posts
again. Rows are retained in memory only for that (``max_retained_rows``, oldest windows first).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from . import types
from ._client import Client
from ._window_buffer import Post, WindowBuffer
from ._windows import row_count, split_by_window, to_ms
from .errors import TetherError

__all__ = ["Monitor", "monitor"]

logger = logging.getLogger(__name__)

_live: set[Monitor] = set()
_live_lock = threading.Lock()
_atexit_registered = False
_NOT_DATA = ("timestamp", "prediction_id")


def default_source() -> str:
    """``host:pid:random``: stable for this handle, distinct across replicas and restarts."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Monitor:
    """Logs production data and ground truth to one monitor; see the module docstring."""

    def __init__(
        self,
        client: Client,
        info: types.Monitor,
        *,
        source: str | None = None,
        timestamp_column: str = "timestamp",
        flush_interval: float = 10.0,
        retry_window: float = 60.0,
        max_retained_rows: int = 1_000_000,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.info = info
        self.id = info.id
        self.timestamp_column = timestamp_column
        self._owns_client = owns_client
        self._ref_lock = threading.Lock()
        self.reference: types.MonitorReference = client.monitors.reference(info.id)
        self.source = (source or default_source())[:200]
        self._buffer = WindowBuffer(
            self._post,
            source=self.source,
            on_stale=self._on_stale,
            flush_interval=flush_interval,
            retry_window=retry_window,
            max_retained_rows=max_retained_rows,
            retry=client.retry,
            new_key=client.new_idempotency_key,
            name=f"tether-monitor-{info.id}",
        )
        self.rows_logged = 0
        self._closed = False
        _track(self)

    def __repr__(self) -> str:
        return f"<tether.Monitor id={self.id} name={self.info.name!r} model={self.info.model!r}>"

    @property
    def window_ms(self) -> int:
        return int(self.reference.window_seconds) * 1000

    @property
    def stats(self) -> dict[str, int]:
        return {"rows_logged": self.rows_logged, **self._buffer.stats}

    # ------------------------------------------------------------------ production data

    def log(self, data: Any, *, timestamp: Any = None) -> int:
        """Summarise ``data`` (a pandas/pyarrow/polars frame, a list of dicts or a dict of columns)
        into its windows and queue them for posting. Row times come from the ``timestamp`` column
        when present, else from ``timestamp`` (epoch ms or a datetime), else now. Returns the rows."""
        now = _now_ms()
        parts = split_by_window(
            data, window_ms=self.window_ms, column=self.timestamp_column, default_ms=now, timestamp=timestamp
        )
        n = 0
        for start, part in parts:
            rows = row_count(part)
            if rows == 0:
                continue
            with self._ref_lock:  # a concurrent re-bin (stale reference) finishes first
                ref = self.reference
                summary = self._summarise(ref, [part])
                if not self._buffer.add_summary(start, ref.reference_id, summary, part, rows):
                    raise TetherError(f"window {start} is on another reference than {ref.reference_id}")
            n += rows
        self.rows_logged += n
        return n

    def _summarise(self, ref: types.MonitorReference, parts: Sequence[Any]) -> dict[str, Any]:
        from .monitoring import build_summary, empty_summary, merge

        out: dict[str, Any] | None = None
        for part in parts:
            s = build_summary(ref.profile, part)
            for name in (self.timestamp_column, *_NOT_DATA):
                s["unexpected_columns"].pop(name, None)
            out = s if out is None else merge(out, s)
        return out if out is not None else empty_summary(ref.profile)

    # ------------------------------------------------------------------ ground truth

    def log_labels(
        self,
        labels: Any = None,
        *,
        y_true: Sequence[Any] | None = None,
        y_pred: Sequence[Any] | None = None,
        y_score: Sequence[float] | None = None,
        performance: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        threshold: float = 0.5,
        pos_label: Any = 1,
    ) -> int:
        """Ground truth, in one of three forms:

        - ``labels``: ``[{"prediction_id", "label"}]``, ``[(prediction_id, label)]`` or
          ``{prediction_id: label}``, posted at once for the server to join with rows it kept
          (rows posted raw with a ``prediction_id``, on monitors with a label column);
        - ``y_true`` with ``y_score`` (binary: AUC, and F1/precision/recall/accuracy at
          ``threshold``) or ``y_pred`` (regression for rmse/mae; else class labels): summarised
          here into the window of ``timestamp`` (when the predictions were made; default now)
          and posted in the background like ``log``;
        - ``performance``: a ready ``tether.performance/1`` summary (``tether.monitoring.*_summary``)
          of the window of ``timestamp``.

        Returns the number of labelled rows.
        """
        if labels is not None:
            pairs = _label_pairs(labels)
            self.client.monitors.post_labels(self.id, pairs)
            return len(pairs)
        if performance is None:
            if y_true is None:
                raise TypeError("give labels=, y_true= with y_pred=/y_score=, or performance=")
            performance = self._performance(y_true, y_pred, y_score, threshold, pos_label)
        from .monitoring import validate_performance

        summary = validate_performance(dict(performance))
        start = to_ms(timestamp, _now_ms())
        self._buffer.add_performance(start - start % self.window_ms, summary)
        return _performance_rows(summary)

    def _performance(
        self, y_true: Sequence[Any], y_pred: Any, y_score: Any, threshold: float, pos_label: Any
    ) -> dict[str, Any]:
        from .monitoring import binary_summary, multiclass_summary, regression_summary

        metric = (self.info.metric or "").lower()
        if metric in ("rmse", "mae"):
            if y_pred is None:
                raise TypeError(f"metric {metric}: give y_pred= (the predicted values)")
            return regression_summary(y_true, y_pred)
        if y_score is not None:
            return binary_summary(y_true, y_score, threshold=threshold, pos_label=pos_label)
        if y_pred is None:
            raise TypeError("give y_score= (binary scores) or y_pred= (predicted labels)")
        if metric == "auc":
            raise TypeError("metric auc needs y_score= (scores, not hard labels)")
        if metric in ("precision", "recall", "f1"):
            preds = y_pred.tolist() if hasattr(y_pred, "tolist") else list(y_pred)
            scores = [1.0 if p == pos_label else 0.0 for p in preds]
            return binary_summary(y_true, scores, threshold=0.5, pos_label=pos_label)
        return multiclass_summary(y_true, y_pred)

    # ------------------------------------------------------------------ background side

    def _post(self, post: Post) -> None:
        if post.kind == "window":
            self.client.monitors.post_window(self.id, idempotency_key=post.key, **post.body)
        else:
            self.client.monitors.post_performance(self.id, idempotency_key=post.key, **post.body)

    def _on_stale(self, reference: Mapping[str, Any] | None) -> None:
        """The live version changed: take the new reference (from the 409, else fetched) and re-bin."""
        with self._ref_lock:
            old = self.reference
            new = (
                types.MonitorReference.from_dict(reference)
                if isinstance(reference, Mapping) and "reference_id" in reference and "profile" in reference
                else self.client.monitors.reference(self.id)
            )
            if new.reference_id == old.reference_id:
                new = self.client.monitors.reference(self.id)
                if new.reference_id == old.reference_id:
                    raise TetherError(
                        f"monitor {self.id}: the server calls reference {old.reference_id} stale but serves it"
                    )
            logger.info(
                "Monitor %s: reference %s -> %s; re-binning", self.id, old.reference_id, new.reference_id
            )
            self.reference = new
            self._buffer.rebin(new.reference_id, lambda parts: self._summarise(new, parts))

    # ------------------------------------------------------------------ lifecycle

    def flush(self, timeout: float | None = None) -> None:
        """Post every window changed so far; raises a stored posting error."""
        self._buffer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._buffer.close(timeout)
        finally:
            _untrack(self)
            if self._owns_client:
                self.client.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def monitor(
    model: str,
    *,
    stage: str | None = None,
    alias: str | None = None,
    name: str | None = None,
    monitor_id: int | None = None,
    client: Client | None = None,
    **options: Any,
) -> Monitor:
    """The ``Monitor`` handle of ``model``'s monitor on ``stage`` (or ``alias``; ``name`` picks one
    of several), or of ``monitor_id``. Without ``client`` a ``Client()`` is built from the
    environment and closed with the handle. ``options``: ``source``, ``timestamp_column``,
    ``flush_interval``, ``retry_window``, ``max_retained_rows``."""
    owns = client is None
    c = client if client is not None else Client()
    try:
        info = (
            c.monitors.get(monitor_id)
            if monitor_id is not None
            else c.monitors.find(model, stage=stage, alias=alias, name=name)
        )
        return Monitor(c, info, owns_client=owns, **options)
    except BaseException:
        if owns:
            c.close()
        raise


def _label_pairs(labels: Any) -> list[dict[str, Any]]:
    if isinstance(labels, Mapping):
        return [{"prediction_id": str(k), "label": v} for k, v in labels.items()]
    out = []
    for i, x in enumerate(labels):
        if isinstance(x, Mapping):
            if "prediction_id" not in x or "label" not in x:
                raise ValueError(f"labels[{i}]: expected prediction_id and label")
            out.append({"prediction_id": str(x["prediction_id"]), "label": x["label"]})
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            out.append({"prediction_id": str(x[0]), "label": x[1]})
        else:
            raise TypeError(f"labels[{i}]: expected a dict or a (prediction_id, label) pair")
    return out


def _performance_rows(s: Mapping[str, Any]) -> int:
    if s.get("kind") == "binary":
        return int(s["tp"] + s["fp"] + s["tn"] + s["fn"])
    return int(s.get("n", 0))


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------- process exit


def _track(m: Monitor) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(m)
        if not _atexit_registered:
            atexit.register(_close_live)
            _atexit_registered = True


def _untrack(m: Monitor) -> None:
    with _live_lock:
        _live.discard(m)


def _close_live() -> None:
    with _live_lock:
        live = list(_live)
    for m in live:
        try:
            m.close(timeout=30)
        except Exception:
            logger.exception("Could not flush monitor %s at exit", m.id)
