"""The metric buffer behind ``Run.log_metric``: a bounded FIFO drained by one daemon thread.

* ``put`` blocks while the buffer holds ``capacity`` points (points are never dropped silently).
* The thread sends a batch when ``batch_size`` points are pending, ``flush_interval`` seconds after the
  oldest pending point arrived, or at once when someone flushes. One thread means points reach the
  server in the order they were logged.
* Each batch gets a fresh Idempotency-Key, reused for all of that batch's retries, so a retry after a
  lost answer cannot log a point twice. Failures the client's ``RetryPolicy`` calls retryable (no
  connection, 429, 502/503/504) are retried, with that policy's backoff and the server's Retry-After,
  for up to ``retry_window`` seconds on top of the client's own retries.
* With a spool (``Run`` always passes one), a batch the server cannot take now goes to the spool file
  instead of being retried here (``_spool.py``): the thread never waits out an outage.
* Any other failure (e.g. 409 because the run is no longer RUNNING) is stored and raised once to the
  caller by the next ``put``/``flush``/``close``. The failed batch is lost; later points are still sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._retry import RetryPolicy
from .errors import APIError, TetherError

logger = logging.getLogger(__name__)

Point = tuple[str, "float | str", int, int]  # key, encoded value, step, timestamp (ms)
SendFn = Callable[[Mapping[str, Any], str], Any]
SpoolFn = Callable[[Mapping[str, Any], str], None]  # send now or keep in the spool (``_spool.Spool``)

DEFAULT_CAPACITY = 100_000
DEFAULT_BATCH_SIZE = 5_000
MAX_BATCH_SIZE = 10_000
DEFAULT_FLUSH_INTERVAL = 0.5
DEFAULT_RETRY_WINDOW = 60.0


class MetricBuffer:
    def __init__(
        self,
        send: SendFn,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        retry_window: float = DEFAULT_RETRY_WINDOW,
        new_key: Callable[[], str] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        name: str = "tether-metrics",
        spool: SpoolFn | None = None,
    ) -> None:
        if capacity < 1 or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"need capacity >= 1 and 1 <= batch_size <= {MAX_BATCH_SIZE}")
        self._send = send
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_window = retry_window
        self._new_key = new_key or _uuid4
        self._retry = retry or RetryPolicy()
        self._sleep = sleep or self._retry.sleep
        self._name = name
        self._spool = spool
        self._cond = threading.Condition()
        self._queue: deque[Point] = deque()
        self._enqueued = 0  # points ever accepted
        self._done = 0  # points sent, or given up on
        self._flushers = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ caller side

    @property
    def pending(self) -> int:
        with self._cond:
            return self._enqueued - self._done

    def put(self, points: Iterable[Point]) -> None:
        """Queue points, blocking while the buffer is full. Raises a stored error first."""
        with self._cond:
            self._raise_stored()
            if self._closed:
                raise TetherError("This run has ended; it no longer accepts metrics")
            self._ensure_thread()
            for p in points:
                while len(self._queue) >= self.capacity:
                    self._cond.notify_all()
                    self._cond.wait(0.5)
                    self._raise_stored()
                    self._check_thread()
                was_empty = not self._queue
                self._queue.append(p)
                self._enqueued += 1
                if was_empty or len(self._queue) == self.batch_size:
                    self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point queued before this call was sent (or failed), then raise any
        stored error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            self._flushers += 1
            self._cond.notify_all()
            try:
                while self._done < target:
                    self._check_thread()
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TetherError(f"flush timed out with {target - self._done} points unsent")
                    self._cond.wait(0.5 if left is None else min(left, 0.5))
            finally:
                self._flushers -= 1
            self._raise_stored()

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread. Raises any stored error (after stopping)."""
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
                thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    def _raise_stored(self) -> None:
        err, self._error = self._error, None
        if err is not None:
            raise err

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker, name=self._name, daemon=True)
            self._thread.start()

    def _check_thread(self) -> None:
        if self._thread is not None and not self._thread.is_alive() and self._done < self._enqueued:
            self._raise_stored()
            raise TetherError("The metric buffer thread stopped; unsent points were lost")

    # ------------------------------------------------------------------ worker side

    def _worker(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                err = self._send_with_retry(batch)
                with self._cond:
                    self._done += len(batch)
                    if err is not None:
                        logger.error("Could not log %d metric points: %s", len(batch), err)
                        if self._error is None:
                            self._error = err
                    self._cond.notify_all()
        except BaseException as exc:  # never leave a flusher waiting forever
            with self._cond:
                self._error = self._error or exc
                self._done = self._enqueued
                self._queue.clear()
                self._cond.notify_all()
            raise

    def _next_batch(self) -> list[Point] | None:
        with self._cond:
            since: float | None = None
            while True:
                n = len(self._queue)
                if n >= self.batch_size or (n and (self._flushers or self._closed)):
                    break
                if self._closed:
                    return None
                if not n:
                    since = None
                    self._cond.wait()
                    continue
                since = since if since is not None else time.monotonic()
                left = self.flush_interval - (time.monotonic() - since)
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = [self._queue.popleft() for _ in range(min(n, self.batch_size))]
            self._cond.notify_all()  # room for blocked producers
            return batch

    def _send_with_retry(self, batch: list[Point]) -> BaseException | None:
        payload = {"metrics": [{"key": k, "value": v, "step": s, "timestamp": t} for k, v, s, t in batch]}
        key = self._new_key()
        if self._spool is not None:  # the spool decides: send now, or keep it on disk (never blocks)
            try:
                self._spool(payload, key)
                return None
            except Exception as exc:
                return exc
        first_failure: float | None = None
        attempt = 0
        while True:
            try:
                self._send(payload, key)
                return None
            except Exception as exc:
                if not self._retry.retryable_error(exc):
                    return exc
                now = time.monotonic()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure >= self.retry_window:
                    return exc
                retry_after = exc.retry_after if isinstance(exc, APIError) else None
                delay = self._retry.delay(attempt, retry_after)
                logger.warning("Metric batch failed (%s); retrying in %.1fs", exc, delay)
                self._sleep(delay)
                attempt += 1


def _uuid4() -> str:
    import uuid

    return str(uuid.uuid4())
