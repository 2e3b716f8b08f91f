from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

import tether
from tether._buffer import MetricBuffer

Point = tuple[str, Any, int, int]


class Recorder:
    """A ``send`` function: records payloads, and can fail or block on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[dict[str, Any]], str]] = []
        self.failures: list[BaseException] = []
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, payload: Mapping[str, Any], key: str) -> None:
        self.gate.wait(10)
        with self.lock:
            self.sent.append((list(payload["metrics"]), key))
            if self.failures:
                raise self.failures.pop(0)

    @property
    def steps(self) -> list[int]:
        return [m["step"] for batch, _ in self.sent for m in batch]


def pts(n: int, start: int = 0) -> list[Point]:
    return [("m", float(i), i, 1) for i in range(start, start + n)]


def make(rec: Recorder, **kw: Any) -> MetricBuffer:
    kw.setdefault("flush_interval", 10.0)
    return MetricBuffer(rec, sleep=lambda s: None, **kw)


def test_flush_sends_everything_in_order_in_bounded_batches() -> None:
    rec = Recorder()
    buf = make(rec, batch_size=100)
    for i in range(0, 1050, 7):
        buf.put(pts(7, i))
    buf.flush()
    assert rec.steps == list(range(1050))
    assert max(len(b) for b, _ in rec.sent) <= 100
    assert len({k for _, k in rec.sent}) == len(rec.sent)  # a fresh key per batch
    buf.close()


def test_interval_sends_without_flush() -> None:
    rec = Recorder()
    buf = make(rec, flush_interval=0.05)
    buf.put(pts(3))
    deadline = time.monotonic() + 5
    while not rec.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.steps == [0, 1, 2]
    buf.close()


def test_full_buffer_blocks_the_caller_until_space() -> None:
    rec = Recorder()
    rec.gate.clear()  # the sender is stuck
    buf = make(rec, capacity=10, batch_size=5)
    buf.put(pts(10))  # the worker takes 5 and blocks; 5 stay queued
    done = threading.Event()

    def producer() -> None:
        buf.put(pts(20, 10))
        done.set()

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    assert not done.wait(0.3), "put should block while the buffer is full"
    rec.gate.set()
    assert done.wait(5)
    buf.flush()
    assert rec.steps == list(range(30))
    buf.close()


def test_retryable_failure_retries_with_same_key() -> None:
    rec = Recorder()
    rec.failures = [tether.APIConnectionError("down"), tether.UnavailableError(503, "UNAVAILABLE", "x")]
    buf = make(rec)
    buf.put(pts(4))
    buf.flush()
    assert len(rec.sent) == 3 and len({k for _, k in rec.sent}) == 1
    assert rec.steps[-4:] == [0, 1, 2, 3]
    buf.close()


def test_retry_window_gives_up_and_reports() -> None:
    rec = Recorder()
    rec.failures = [tether.APIConnectionError("down")] * 3
    buf = make(rec, retry_window=0.0)
    buf.put(pts(2))
    with pytest.raises(tether.APIConnectionError):
        buf.flush()
    buf.close()


def test_non_retryable_error_is_raised_once_on_next_call() -> None:
    rec = Recorder()
    rec.failures = [tether.ConflictError(409, "FAILED_PRECONDITION", "run finished")]
    buf = make(rec, batch_size=2)
    buf.put(pts(2))
    deadline = time.monotonic() + 5
    while buf.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(tether.ConflictError):
        buf.put(pts(1, 2))
    buf.put(pts(1, 3))  # the error was delivered; later points still go out
    buf.flush()
    assert rec.steps == [0, 1, 3] and len(rec.sent) == 2
    buf.close()


def test_error_surfaces_in_flush_and_close() -> None:
    rec = Recorder()
    rec.failures = [tether.BadRequestError(400, "INVALID_ARGUMENT", "bad key")]
    buf = make(rec)
    buf.put(pts(1))
    with pytest.raises(tether.BadRequestError):
        buf.flush()
    buf.flush()  # delivered once
    rec.failures = [tether.NotFoundError(404, "NOT_FOUND", "gone")]
    buf.put(pts(1))
    with pytest.raises(tether.NotFoundError):
        buf.close()
    with pytest.raises(tether.TetherError):
        buf.put(pts(1))


def test_flush_timeout() -> None:
    rec = Recorder()
    rec.gate.clear()
    buf = make(rec)
    buf.put(pts(1))
    with pytest.raises(tether.TetherError, match="timed out"):
        buf.flush(timeout=0.1)
    rec.gate.set()
    buf.close()


def test_concurrent_producers_lose_nothing() -> None:
    rec = Recorder()
    buf = make(rec, capacity=50, batch_size=20)

    def producer(base: int) -> None:
        for i in range(200):
            buf.put([("m", 0.0, base + i, 1)])

    threads = [threading.Thread(target=producer, args=(k * 1000,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    buf.close()
    assert sorted(rec.steps) == sorted(k * 1000 + i for k in range(4) for i in range(200))
    for k in range(4):  # each producer's points keep their order
        mine = [s for s in rec.steps if k * 1000 <= s < k * 1000 + 1000]
        assert mine == sorted(mine)


def test_no_thread_until_first_point() -> None:
    buf = make(Recorder())
    buf.flush()
    buf.close()
    assert buf._thread is None


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        MetricBuffer(Recorder(), batch_size=20_000)
