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
    """``requests.Session`` with a connection pool sized for the buffer thread plus callers.

    The session it builds itself reads the environment (``HTTP(S)_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) once per origin, the first time it talks to it,
    as httpx reads it once per client, instead of on every request as ``requests`` does (the
    proxy lookup alone was about a quarter of the client's CPU per call). ``~/.netrc`` is not
    consulted: Tether authenticates with the bearer header, which a netrc entry would replace.
    A session passed in is used as it is."""

    def __init__(self, session: requests.Session | None = None, *, pool_size: int = 10) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self._requests = requests
        self._owns_session = session is None
        self._origins: dict[str, dict[str, Any]] = {}  # scheme://host:port -> proxies, verify, cert
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False  # read once per origin in _environment instead
        self.session = session

    def _environment(self, url: str) -> dict[str, Any]:
        """What ``requests`` would take from the environment for ``url`` (its own
        ``merge_environment_settings``), computed once per origin; empty for a session passed in."""
        if not self._owns_session:
            return {}
        origin = "/".join(url.split("/", 3)[:3])
        found = self._origins.get(origin)
        if found is None:
            probe = self._requests.Session()  # trust_env: reads the environment as requests does
            try:
                merged = probe.merge_environment_settings(url, {}, None, None, None)
            finally:
                probe.close()
            found = self._origins[origin] = {k: merged[k] for k in ("proxies", "verify", "cert")}
        return found

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
                **self._environment(url),
            )
        except req.exceptions.Timeout as exc:
            raise APITimeoutError(f"{method} {url} timed out after {timeout}s") from exc
        except req.exceptions.RequestException as exc:
            raise APIConnectionError(f"{method} {url} failed: {exc}") from exc
        return HTTPResponse(r.status_code, r.content, r.headers)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
