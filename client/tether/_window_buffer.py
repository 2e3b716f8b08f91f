"""The window buffer behind ``tether.Monitor``: per-window merged summaries, posted by one daemon thread.

* The caller bins rows into ``tether.window/1`` summaries (in its own thread) and ``add``s them; the
  buffer merges them per window, so what is posted is always the source's **whole** window (the
  server replaces a source's previous post of that window; other sources add up).
* The thread posts each changed window ``flush_interval`` seconds after its first unsent change, or
  at once on ``flush``/``close``. Each post carries a fresh Idempotency-Key, reused for its retries.
  Retryable failures (no connection, 429, 502-504) are retried with the client's ``RetryPolicy`` for
  up to ``retry_window`` seconds; other failures are stored and raised by the next call.
* A 409 with ``details.reference`` (the live version changed, the bins are stale) calls ``on_stale``,
  which re-bins the retained rows on the new edges; the windows are then posted again.
* Windows are kept ``keep_ms`` after the newest one (then dropped; data arriving later for a dropped
  window goes out under a new source id, so it adds to what was posted instead of replacing it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._retry import RetryPolicy
from .errors import APIError, ConflictError, TetherError

logger = logging.getLogger(__name__)

PostFn = Callable[["Post"], None]


@dataclass
class WindowState:
    start: int
    source: str
    reference_id: int | None = None
    summary: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    frames: list[Any] | None = field(default_factory=list)  # raw parts for re-binning; None: evicted
    retained_rows: int = 0
    data_version: int = 0
    data_sent: int = 0
    perf_version: int = 0
    perf_sent: int = 0
    dirty_since: float | None = None

    @property
    def dirty(self) -> bool:
        return self.data_version != self.data_sent or self.perf_version != self.perf_sent


@dataclass(frozen=True)
class Post:
    kind: str  # "window" | "performance"
    window_start: int
    source: str
    body: dict[str, Any]
    reference_id: int | None
    key: str
    version: int


class StaleReference(Exception):
    def __init__(self, reference: Mapping[str, Any] | None) -> None:
        super().__init__("stale reference")
        self.reference = reference


class WindowBuffer:
    def __init__(
        self,
        post: PostFn,
        *,
        source: str,
        on_stale: Callable[[Mapping[str, Any] | None], None],
        flush_interval: float = 10.0,
        retry_window: float = 60.0,
        keep_ms: int = 24 * 3600 * 1000,
        max_retained_rows: int = 1_000_000,
        retry: RetryPolicy | None = None,
        new_key: Callable[[], str] | None = None,
        name: str = "tether-monitor",
    ) -> None:
        self._post = post
        self.source = source
        self._on_stale = on_stale
        self.flush_interval = flush_interval
        self.retry_window = retry_window
        self.keep_ms = keep_ms
        self.max_retained_rows = max_retained_rows
        self._retry = retry or RetryPolicy()
        self._new_key = new_key or _uuid4
        self._name = name
        self.cond = threading.Condition()
        self.windows: dict[int, WindowState] = {}
        self._generations = 0  # source suffixes handed out for windows dropped earlier
        self._dropped: set[int] = set()
        self._changes = 0  # add() calls ever
        self._done = 0  # changes covered by a finished pass
        self._flushers = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = {"posts": 0, "retries": 0, "stale": 0, "dropped_windows": 0}

    # ------------------------------------------------------------------ caller side

    def add_summary(
        self, start: int, reference_id: int, summary: dict[str, Any], raw: Any, rows: int
    ) -> bool:
        """Merge a summary binned on ``reference_id`` into its window; ``False`` when the buffer's
        reference moved on meanwhile (the caller re-bins and tries again)."""
        with self.cond:
            self._check()
            w = self._window(start)
            if w.reference_id is not None and w.reference_id != reference_id:
                return False
            w.reference_id = reference_id
            w.summary = summary if w.summary is None else _merge(w.summary, summary)
            self._retain(w, raw, rows)
            w.data_version += 1
            self._changed(w)
            return True

    def add_performance(self, start: int, performance: dict[str, Any]) -> None:
        with self.cond:
            self._check()
            w = self._window(start)
            w.performance = (
                performance if w.performance is None else _merge_performance(w.performance, performance)
            )
            w.perf_version += 1
            self._changed(w)

    def rebin(self, reference_id: int, build: Callable[[list[Any]], dict[str, Any] | None]) -> None:
        """Re-bin every window on ``reference_id`` from its retained rows (called by ``on_stale``).
        Windows whose rows were not all retained are dropped, with a warning: the server keeps what
        was posted, and later rows go out under a new source id."""
        with self.cond:
            for start, w in list(self.windows.items()):
                if w.summary is None or w.reference_id == reference_id:
                    continue
                if w.frames is None:
                    logger.warning(
                        "Window %d was binned on a stale reference and its rows were not retained; dropping it",
                        start,
                    )
                    self._drop(start)
                    continue
                w.summary = build(w.frames)
                w.reference_id = reference_id
                w.data_version += 1
                self._changed(w)

    def flush(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            target = self._changes
            self._flushers += 1
            self.cond.notify_all()
            try:
                while self._done < target:
                    if self._thread is not None and not self._thread.is_alive():
                        self._raise_stored()
                        raise TetherError("The monitor buffer thread stopped; unsent windows were lost")
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TetherError("flush timed out with windows unsent")
                    self.cond.wait(0.5 if left is None else min(left, 0.5))
            finally:
                self._flushers -= 1
            self._raise_stored()

    def close(self, timeout: float | None = None) -> None:
        try:
            self.flush(timeout)
        finally:
            with self.cond:
                self._closed = True
                self.cond.notify_all()
                thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    # ------------------------------------------------------------------ bookkeeping (under the lock)

    def _check(self) -> None:
        self._raise_stored()
        if self._closed:
            raise TetherError("This monitor handle is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker, name=self._name, daemon=True)
            self._thread.start()

    def _raise_stored(self) -> None:
        err, self._error = self._error, None
        if err is not None:
            raise err

    def _window(self, start: int) -> WindowState:
        w = self.windows.get(start)
        if w is None:
            source = self.source
            if start in self._dropped:  # a re-post under the old source would replace what was sent
                self._generations += 1
                source = f"{self.source}~{self._generations}"
            w = self.windows[start] = WindowState(start, source)
            self._evict(start)
        return w

    def _retain(self, w: WindowState, raw: Any, rows: int) -> None:
        if w.frames is None:
            return
        w.frames.append(raw)
        w.retained_rows += rows
        total = sum(x.retained_rows for x in self.windows.values())
        for old in sorted(self.windows):  # the oldest windows give up their rows first
            if total <= self.max_retained_rows:
                break
            x = self.windows[old]
            if x.frames is not None:
                total -= x.retained_rows
                x.frames, x.retained_rows = None, 0

    def _evict(self, newest: int) -> None:
        for start in [s for s in self.windows if s < newest - self.keep_ms]:
            if not self.windows[start].dirty:
                self._drop(start)

    def _drop(self, start: int) -> None:
        self.windows.pop(start, None)
        self._dropped.add(start)
        self.stats["dropped_windows"] += 1

    def _changed(self, w: WindowState) -> None:
        self._changes += 1
        if w.dirty_since is None:
            w.dirty_since = time.monotonic()
        self.cond.notify_all()

    # ------------------------------------------------------------------ worker side

    def _worker(self) -> None:
        try:
            while (todo := self._next_pass()) is not None:
                target, posts = todo
                stale = self._send_all(posts)
                if stale is not None:
                    self.stats["stale"] += 1
                    try:
                        self._on_stale(stale.reference)
                    except Exception as exc:
                        self._fail(exc)
                        self._settle(posts)  # give up on them rather than loop on the same 409
                        self._finish(target)
                    continue  # re-binned windows are dirty again: next pass (flushers keep waiting)
                self._finish(target)
        except BaseException as exc:  # never leave a flusher waiting forever
            with self.cond:
                self._error = self._error or exc
                self._done = self._changes
                self.cond.notify_all()
            raise

    def _finish(self, target: int) -> None:
        with self.cond:
            self._done = max(self._done, target)
            self.cond.notify_all()

    def _fail(self, exc: BaseException) -> None:
        logger.error("Could not post a monitoring window: %s", exc)
        with self.cond:
            self._error = self._error or exc

    def _next_pass(self) -> tuple[int, list[Post]] | None:
        with self.cond:
            while True:
                dirty = [w for w in self.windows.values() if w.dirty]
                if dirty:
                    oldest = min(w.dirty_since or 0.0 for w in dirty)
                    left = self.flush_interval - (time.monotonic() - oldest)
                    if self._flushers or self._closed or left <= 0:
                        break
                    self.cond.wait(left)
                    continue
                self._done = self._changes
                self.cond.notify_all()
                if self._closed:
                    return None
                self.cond.wait()
            target = self._changes
            return target, [p for w in sorted(dirty, key=lambda w: w.start) for p in self._snapshot(w)]

    def _snapshot(self, w: WindowState) -> list[Post]:
        w.dirty_since = None
        if w.summary is None:
            w.data_sent = w.data_version
        if w.performance is None:
            w.perf_sent = w.perf_version
        posts = []
        if w.data_version != w.data_sent and w.summary is not None:
            body = {
                "reference_id": w.reference_id,
                "window_start": w.start,
                "source": w.source,
                "summary": w.summary,
            }
            posts.append(
                Post("window", w.start, w.source, body, w.reference_id, self._new_key(), w.data_version)
            )
        if w.perf_version != w.perf_sent and w.performance is not None:
            body = {"window_start": w.start, "source": w.source, "performance": w.performance}
            posts.append(Post("performance", w.start, w.source, body, None, self._new_key(), w.perf_version))
        return posts

    def _settle(self, posts: list[Post]) -> None:
        """Posted, or given up on: the window is clean unless it changed since the snapshot."""
        with self.cond:
            for p in posts:
                w = self.windows.get(p.window_start)
                if w is None or w.source != p.source:
                    continue
                if p.kind == "window":
                    w.data_sent = max(w.data_sent, p.version)
                else:
                    w.perf_sent = max(w.perf_sent, p.version)

    def _send_all(self, posts: list[Post]) -> StaleReference | None:
        stale: StaleReference | None = None
        for post in posts:
            if stale is not None and post.kind == "window":
                continue  # binned on the same stale edges: re-binned, then posted next pass
            try:
                self._send_with_retry(post)
            except StaleReference as exc:
                stale = exc
                continue
            except Exception as exc:
                self._fail(exc)
            self._settle([post])
        return stale

    def _send_with_retry(self, post: Post) -> None:
        first_failure: float | None = None
        attempt = 0
        while True:
            try:
                self._post(post)
                self.stats["posts"] += 1
                return
            except ConflictError as exc:
                if post.kind == "window" and "reference" in exc.details:
                    raise StaleReference(exc.details.get("reference")) from exc
                raise
            except Exception as exc:
                if not self._retry.retryable_error(exc):
                    raise
                now = time.monotonic()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure >= self.retry_window:
                    raise
                delay = self._retry.delay(attempt, exc.retry_after if isinstance(exc, APIError) else None)
                logger.warning("Monitor window post failed (%s); retrying in %.1fs", exc, delay)
                self.stats["retries"] += 1
                self._retry.sleep(delay)
                attempt += 1


def _uuid4() -> str:
    import uuid

    return str(uuid.uuid4())


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    from .monitoring import merge  # imported on first use: ``import tether`` stays light

    return merge(a, b)


def _merge_performance(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    from .monitoring import merge_performance

    return merge_performance(a, b)
