"""What every UI page shares: its blueprint, the HTML/JSON twin rendering, login redirects, error pages.

Every page that shows data has a JSON twin: the same URL with ``Accept: application/json`` (or
``?format=json``) returns the data the template was rendered from, as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from ..errors import TetherError, Unauthenticated, error_response
from ..jsonutil import dumps, float_out


def wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    accept = request.accept_mimetypes
    return (
        bool(accept.provided) and accept.best_match(["text/html", "application/json"]) == "application/json"
    )


def _wants_html() -> bool:
    accept = request.accept_mimetypes
    return bool(accept.provided) and accept["text/html"] > 0 and not wants_json()


def page(template: str, data: dict[str, Any], status: int = 200, **extra: Any) -> Any:
    """The HTML page, or its JSON twin (``data`` only; ``extra`` is presentation-only context)."""
    if wants_json():
        return Response(dumps(data), status=status, mimetype="application/json")
    return render_template(template, **data, **extra), status


def _on_unauthenticated(e: Unauthenticated) -> Any:
    if request.method in ("GET", "HEAD") and _wants_html():
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("ui_auth.login") + "?" + urlencode({"next": target}))
    return error_response(e.status, e.code, e.message, e.details, e.headers)


def _on_error(e: TetherError) -> Any:
    g.ui_error = True
    if _wants_html():
        body = render_template("error.html", status=e.status, code=e.code, message=e.message)
        return body, e.status, e.headers
    return error_response(e.status, e.code, e.message, e.details, e.headers)


def ui_blueprint(name: str, import_name: str) -> Blueprint:
    """A UI blueprint (its name starts with "ui", so CSRF applies to its forms)."""
    bp = Blueprint(name, import_name)
    bp.register_error_handler(Unauthenticated, _on_unauthenticated)
    bp.register_error_handler(TetherError, _on_error)
    return bp


# ---------------------------------------------------------------- template helpers


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_short_time(ms: int | None, now_ms: int | None = None) -> str:
    """A compact UTC time for tables: ``Mar 04 14:05`` this year, ``2024-03-04`` before (the full
    timestamp goes in the cell's title)."""
    if ms is None:
        return ""
    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC) if now_ms is not None else dt.datetime.now(dt.UTC)
    return t.strftime("%b %d %H:%M") if t.year == now.year else t.strftime("%Y-%m-%d")


def fmt_iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        out = float_out(v)
        return out if isinstance(out, str) else f"{v:.6g}"
    return "" if v is None else str(v)


def fmt_bytes(n: int | None) -> str:
    size = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def install_helpers(app: Any) -> None:
    app.jinja_env.filters.update(
        time=fmt_time, short_time=fmt_short_time, iso=fmt_iso, value=fmt_value, bytes=fmt_bytes
    )

    @app.context_processor
    def _user() -> dict[str, Any]:
        return {"current_user": g.get("principal"), "reviews_waiting": reviews_waiting}


def reviews_waiting() -> int | None:
    """For the navigation bar: how many transition requests the signed-in reviewer may decide now
    (one COUNT query, only when a page's nav asks). None when it cannot be known on this page."""
    from sqlalchemy.exc import SQLAlchemyError

    from .. import context
    from ..services.registry import transitions

    me = g.get("principal")
    if me is None or me.id is None or not me.has_role("reviewer") or g.get("ui_error"):
        return None
    try:
        return transitions.count_decidable(context.read_db(), me)
    except SQLAlchemyError:  # a failed transaction on an error page: no badge rather than a 500
        return None
