"""``GET /metrics``: Prometheus exposition, outside ``/api/v1`` where scrapers expect it.

Registered only when ``TETHER_METRICS`` is ``token`` or ``open`` (route-level counts reveal activity). In
``token`` mode the scraper sends ``Authorization: Bearer <TETHER_METRICS_TOKEN>``; the route is public to
the user-token machinery and compares the scrape token itself, in constant time.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, request

from .. import context
from ..access import access
from ..errors import Unauthenticated
from ..telemetry import CONTENT_TYPE

blp = Blueprint("scrape", __name__)


@blp.route("/metrics", methods=["GET"])
@access("public")
def metrics() -> Response:
    rt = context.runtime()
    if rt.settings.metrics == "token":
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        expected = rt.settings.metrics_token.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            raise Unauthenticated("A scrape token is required (Authorization: Bearer <TETHER_METRICS_TOKEN>)")
    return Response(rt.metrics.render(rt), mimetype=None, content_type=CONTENT_TYPE)


def register(app: Flask, mode: str) -> None:
    if mode != "off":
        app.register_blueprint(blp)
