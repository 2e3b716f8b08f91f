"""CSRF protection for cookie-authenticated requests.

Every state-changing request that authenticates with the session cookie (UI forms and the
UI's fetch calls) must carry the session's token in the ``csrf_token`` form field or the
``X-CSRF-Token`` header. Bearer-token API calls are not exposed to CSRF and skip the check.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, g, request, session

from ..errors import PermissionDenied

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def check() -> None:
    if request.method in SAFE or request.headers.get("Authorization"):
        return
    if "uid" not in session and not (request.blueprint or "").startswith("ui"):
        return  # not cookie-authenticated and not a UI form: the API's own auth applies
    if "uid" not in session and _policy() != "public":
        return  # no session to ride on: the access check answers 401 before anything happens
    sent = (
        request.form.get("csrf_token")
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        else None
    )
    sent = sent or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf", "")
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDenied(
            "Missing or invalid CSRF token; reload the page and try again", {"reason": "csrf"}
        )


def _policy() -> str | None:
    from flask import current_app

    from ..access import policy_of

    return policy_of(request.endpoint, current_app.view_functions.get(request.endpoint or ""))


def install(app: Flask) -> None:
    # Runs before the access hook, so forged requests fail before any side effect.
    app.before_request_funcs.setdefault(None, []).insert(0, check)
    app.jinja_env.globals["csrf_token"] = token
    _ = g
