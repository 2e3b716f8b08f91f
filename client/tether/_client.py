"""``Client``: configuration, auth, JSON, retries. Resources (``client.experiments``, ``client.runs``,
``client.metrics``, ``client.models``, ``client.artifacts``, ``client.datasets``, ``client.monitors``,
``client.alerts``) call ``Client.request``;
artifact transfers stream over a separate ``requests.Session`` (``Client.http_session``)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._config import API_PREFIX, resolve_base_url, resolve_token
from ._encoding import dumps, loads
from ._retry import RetryPolicy
from ._spool import default_spool_dir, resolve_spool_wait
from ._transport import HTTPResponse, RequestsTransport, Transport
from ._version import __version__
from .errors import APIConnectionError, APIError, error_from_response
from .resources.abtests import ABTests
from .resources.artifacts import Artifacts
from .resources.datasets import Datasets
from .resources.experiments import Experiments
from .resources.metrics import Metrics
from .resources.models import Models
from .resources.monitors import Alerts, Monitors
from .resources.runs import Runs

if TYPE_CHECKING:
    import requests

__all__ = ["Client", "DEFAULT_TIMEOUT", "DEFAULT_MAX_RETRIES"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3


class Client:
    """A connection to one Tether server.

    ``base_url`` falls back to ``TETHER_URL``, then ``http://127.0.0.1:5055``; ``token`` to
    ``TETHER_TOKEN``, then the credentials file. Pass ``transport=`` (anything with ``request()`` and
    ``close()``, see ``tether._transport.Transport``) or ``session=`` (a ``requests.Session``) to
    control the HTTP layer, e.g. in tests. ``max_retries``, ``backoff_base`` and ``backoff_max`` build
    ``client.retry``, the one ``RetryPolicy`` that API calls, the metric buffer and artifact transfers
    share (see ``tether._retry``). ``progress=False`` turns off the tqdm bars of artifact
    transfers (also ``TETHER_PROGRESS=0``). ``spool_dir`` (``TETHER_SPOOL_DIR``) and ``spool_wait``
    (``TETHER_SPOOL_WAIT_SECONDS``, default 30) set where runs keep what they could not send and how
    long a run's end waits for it (``tether._spool``).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: Transport | None = None,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        progress: bool | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_wait: float | None = None,
    ) -> None:
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.base_url = resolve_base_url(base_url)
        self.api_url = self.base_url + API_PREFIX
        self.timeout = float(timeout)
        self.retry = RetryPolicy(max_retries, backoff_base, backoff_max, sleep=self._sleep_hook)
        self._token = resolve_token(token, self.base_url)
        # What runs could not send goes to a spool file here; at a run's end the SDK waits at most
        # ``spool_wait`` seconds for it to drain (``tether._spool``).
        self.spool_dir = Path(spool_dir).expanduser() if spool_dir is not None else default_spool_dir()
        self.spool_wait = resolve_spool_wait(spool_wait)
        self._transport: Transport | None = transport
        self._session = session
        self._sleep: Callable[[float], None] = time.sleep  # tests replace it to record the waits
        self.experiments = Experiments(self)
        self.runs = Runs(self)
        self.metrics = Metrics(self)
        self.models = Models(self)
        self.artifacts = Artifacts(self, progress=progress)
        self.datasets = Datasets(self)
        self.monitors = Monitors(self)
        self.alerts = Alerts(self)
        self.ab_tests = ABTests(self)
        self._bulk: requests.Session | None = None
        self._bulk_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @property
    def transport(self) -> Transport:
        if self._transport is None:  # built on first use: this is where ``requests`` gets imported
            self._transport = RequestsTransport(self._session)
        return self._transport

    def http_session(self, pool_size: int = 8) -> requests.Session:
        """A ``requests.Session`` carrying this client's auth and User-Agent, for streamed artifact
        transfers (built once, closed with the client)."""
        with self._bulk_lock:
            if self._bulk is None:
                import requests
                from requests.adapters import HTTPAdapter

                s = requests.Session()
                adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                s.headers.update(
                    {k: v for k, v in self._headers(None, has_body=False).items() if k != "Accept"}
                )
                self._bulk = s
            return self._bulk

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._bulk is not None:
            self._bulk.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        raw: bool = False,
    ) -> Any:
        """Send one API call (``path`` is relative to ``/api/v1``) and return the decoded JSON body.

        Safe calls (idempotent methods, or any call with an ``idempotency_key``) are retried after
        connection errors and 429/502/503/504 following ``self.retry``; non-2xx answers raise the
        matching ``APIError`` subclass. ``content`` (with ``content_type``) sends raw bytes instead
        of JSON; ``raw`` returns the response body as bytes instead of decoding it.
        """
        method = method.upper()
        headers = self._headers(idempotency_key, has_body=json is not None)
        if content is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        else:
            content = dumps(json) if json is not None else None
        query = {k: v for k, v in params.items() if v is not None} if params else None
        retryable = self.retry.is_safe(method, idempotency_key)
        url = self.api_url + path
        attempt = 0
        while True:
            try:
                resp = self.transport.request(
                    method,
                    url,
                    headers=headers,
                    params=query,
                    content=content,
                    timeout=timeout or self.timeout,
                )
            except APIConnectionError as exc:
                if not retryable or attempt >= self.retry.max_retries:
                    raise
                logger.info("%s %s: %s; retry %d/%d", method, path, exc, attempt + 1, self.retry.max_retries)
                self.retry.wait(attempt)
                attempt += 1
                continue
            if (
                retryable
                and self.retry.retryable_status(resp.status_code)
                and attempt < self.retry.max_retries
            ):
                logger.info(
                    "%s %s -> %d; retry %d/%d",
                    method,
                    path,
                    resp.status_code,
                    attempt + 1,
                    self.retry.max_retries,
                )
                self.retry.wait(attempt, resp.header("Retry-After"))
                attempt += 1
                continue
            if raw and 200 <= resp.status_code < 300:
                return resp.content
            return self._decode(resp)

    def _headers(self, idempotency_key: str | None, *, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"tether-python/{__version__}"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _sleep_hook(self, seconds: float) -> None:
        self._sleep(seconds)

    @property
    def max_retries(self) -> int:
        return self.retry.max_retries

    @staticmethod
    def _decode(resp: HTTPResponse) -> Any:
        if not 200 <= resp.status_code < 300:
            raise error_from_response(resp.status_code, resp.content, resp.headers)
        if not resp.content:
            return None
        try:
            return loads(resp.content)
        except ValueError as exc:
            raise APIError(resp.status_code, "INVALID_RESPONSE", f"Response is not JSON: {exc}") from exc

    @staticmethod
    def new_idempotency_key() -> str:
        import uuid

        return str(uuid.uuid4())
