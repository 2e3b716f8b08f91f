"""The SDK's one retry policy, shared by ``Client.request``, the metric buffer and artifact transfers.

What is retried: only calls that are safe to repeat, i.e. idempotent methods (GET, HEAD, PUT, DELETE,
OPTIONS) and requests carrying an ``Idempotency-Key`` (metric batches, dataset logging), and only
when there was no answer (``APIConnectionError``, timeouts included) or the answer was 429, 502, 503
or 504. How long to wait: the server's ``Retry-After`` in seconds when it sends one (capped at
``max_retry_after``), else exponential backoff with jitter: attempt ``n`` waits a uniform time in
``[d/2, d]`` with ``d = min(backoff_max, backoff_base * 2**n)``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import APIConnectionError, APIError

__all__ = ["RetryPolicy", "RETRY_STATUSES", "IDEMPOTENT_METHODS"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")

    @staticmethod
    def is_safe(method: str, idempotency_key: str | None = None) -> bool:
        """May a call be sent twice? Idempotent methods, or any method with an idempotency key."""
        return method.upper() in IDEMPOTENT_METHODS or idempotency_key is not None

    @staticmethod
    def retryable_status(status: int) -> bool:
        return status in RETRY_STATUSES

    @staticmethod
    def retryable_error(exc: BaseException) -> bool:
        """No answer at all, or an answer that says "try again later"."""
        if isinstance(exc, APIConnectionError):
            return True
        return isinstance(exc, APIError) and exc.status in RETRY_STATUSES

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_retry_after)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        d = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return d / 2 + random.uniform(0, d / 2)

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))
