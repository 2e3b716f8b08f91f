"""Running behind a reverse proxy or ingress, optionally under a path prefix.

* ``TETHER_TRUSTED_PROXIES=N`` trusts N hops of ``X-Forwarded-For/-Proto/-Host/-Port/-Prefix``
  (werkzeug's ProxyFix). Off by default: a client talking to Tether directly could otherwise forge
  its address or the host that download links are built from.
* ``TETHER_PUBLIC_URL=https://ml.example.com/tether`` is where users reach Tether. Its path is the
  prefix: a request arriving with it (a proxy that does not strip it) has it moved from PATH_INFO to
  SCRIPT_NAME; one arriving without it (a proxy that strips it, or a probe on the pod) is served as
  is. Either way ``url_for``, redirects, the UI's links and assets and the session cookie's path
  carry the prefix, and the deployment response's download URLs start with the public URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


class PrefixMiddleware:
    """Serve a WSGI app under ``prefix`` whether or not the proxy strips it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("SCRIPT_NAME", "") in ("", self.prefix):  # a trusted X-Forwarded-Prefix wins
            path = environ.get("PATH_INFO", "")
            if path == self.prefix or path.startswith(self.prefix + "/"):
                environ["PATH_INFO"] = path[len(self.prefix) :] or "/"
            environ["SCRIPT_NAME"] = self.prefix
        return self.app(environ, start_response)


def install(app: Flask, settings: Any) -> None:
    prefix = settings.url_prefix
    if prefix:
        app.wsgi_app = PrefixMiddleware(app.wsgi_app, prefix)  # type: ignore[method-assign]
        app.config.update(SESSION_COOKIE_PATH=prefix + "/", APPLICATION_ROOT=prefix)
    if settings.public_url.startswith("https://"):
        app.config["PREFERRED_URL_SCHEME"] = "https"
    n = settings.trusted_proxies
    if n:  # outermost: runs first, so a trusted X-Forwarded-Prefix lands in SCRIPT_NAME before the above
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )


def external_base_url(settings: Any) -> str:
    """Base URL for absolute links in responses: the public URL, else what this request came to
    (``request.url_root``: scheme, host and prefix, as corrected by ProxyFix when trusted)."""
    return settings.public_url or request.url_root.rstrip("/")
