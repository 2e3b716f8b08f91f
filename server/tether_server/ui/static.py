"""Static assets of the UI (web/static, including the npm-built web/static/dist)."""

from __future__ import annotations

from flask import Response, current_app, send_from_directory

from ..access import access


@access("public")
def asset(filename: str) -> Response:
    return send_from_directory(current_app.config["TETHER_WEB_ROOT"] + "/static", filename, max_age=300)
