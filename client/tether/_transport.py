"""The one seam between the client and the network. ``Client(transport=...)`` accepts anything with
``request()`` and ``close()``; tests pass a fake, production uses ``RequestsTransport``.

A transport returns an ``HTTPResponse`` for every HTTP answer (errors included) and raises
``APIConnectionError``/``APITimeoutError`` when there is no answer. ``requests`` is imported only
when the first ``RequestsTransport`` is built, so ``import tether`` stays cheap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import APIConnectionError, APITimeoutError

if TYPE_CHECKING:
    import requests

__all__ = ["HTTPResponse", "Transport", "RequestsTransport"]


@dataclass(slots=True)
class HTTPResponse:
    status_code: int
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for k, v in self.headers.items():
            if k.lower() == lowered:
                return v
        return None


@runtime_checkable
class Transport(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, Any] | None,
        content: bytes | None,
        timeout: float,
    ) -> HTTPResponse: ...

    def close(self) -> None: ...


class RequestsTransport:
    """``requests.Session`` with a connection pool sized for the buffer thread plus callers."""

    def __init__(self, session: requests.Session | None = None, *, pool_size: int = 10) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self._requests = requests
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, Any] | None,
        content: bytes | None,
        timeout: float,
    ) -> HTTPResponse:
        req = self._requests
        try:
            r = self.session.request(
                method,
                url,
                headers=dict(headers),
                params=params,
                data=content,
                timeout=timeout,
                allow_redirects=False,
            )
        except req.exceptions.Timeout as exc:
            raise APITimeoutError(f"{method} {url} timed out after {timeout}s") from exc
        except req.exceptions.RequestException as exc:
            raise APIConnectionError(f"{method} {url} failed: {exc}") from exc
        return HTTPResponse(r.status_code, r.content, r.headers)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
