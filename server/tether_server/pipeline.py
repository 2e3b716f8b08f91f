"""Request flow: request id, authentication and the access check, commit/rollback, one log line.

The request transaction (``context.db()``) is committed here, once, after the view, when the status is
below 400, and rolled back otherwise; see ``context`` for the other units of work."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from flask import session as cookie_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError, IntegrityError
from werkzeug.routing import IntegerConverter

from . import context, logconfig
from .access import ROLE_RANK, policy_of
from .errors import (
    PermissionDenied,
    Unauthenticated,
    database_unavailable,
    error_response,
    is_connection_error,
)
from .services.identity import users as users_svc

logger = logging.getLogger("tether_server.request")

_TOKEN_QUERY_PARAMS = ("token", "access_token", "api_key", "apikey", "auth", "bearer")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


_SECURITY_LOWER = tuple((k.lower(), k, v) for k, v in SECURITY_HEADERS.items())


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request without the session cookie (every API
    call with a bearer token) gets its empty session without Flask building a signing serializer
    for it, which it otherwise does on every request."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _authenticate() -> None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("Invalid or expired credentials")
        rt = context.runtime()
        g.principal = p = users_svc.authenticate_token(
            rt.token_cache, rt.database.read_session, value.strip(), rt.settings.default_permission
        )
        if p.token_id is not None and rt.token_cache.should_touch(p.token_id):
            with context.separate(write=True) as s:  # before the request's transaction opens
                users_svc.touch_token(s, p.token_id)
        return
    uid = cookie_session.get("uid")
    if uid is not None:
        g.principal = _session_principal(uid, cookie_session.get("sv"))
        g.via_session = True
        return
    raise Unauthenticated("Authentication required")


def _session_principal(uid: int, version: Any) -> Any:
    from .models import User

    with context.separate() as s:
        user = s.get(User, uid)
        if user is None or not user.active or version != _session_version(user):
            cookie_session.clear()
            raise Unauthenticated("Your session has ended; log in again")
        return users_svc.principal_of(
            user, via="session", default_level=context.settings().default_permission
        )


def _session_version(user: Any) -> str:
    # Changing the role, password or active flag ends existing sessions.
    return f"{user.role}:{(user.password_hash or '')[-12:]}:{int(user.active)}"


def begin_request() -> Response | None:
    g.request_id = logconfig.request_id_from(request.headers.get("X-Request-Id"))
    g.t0 = time.perf_counter()
    if request.endpoint is None:
        return None  # routing error: 404/405 handlers answer
    if request.environ.get("QUERY_STRING") and any(k in request.args for k in _TOKEN_QUERY_PARAMS):
        raise Unauthenticated("Credentials are accepted only in the Authorization header")
    policy = policy_of(request.endpoint, current_app.view_functions.get(request.endpoint))
    if policy is None:
        logger.error("route %s has no access declaration; refusing", request.endpoint)
        raise PermissionDenied("This route is not available")
    if policy == "public":
        if request.headers.get("Authorization") or cookie_session.get("uid") is not None:
            try:
                _authenticate()
            except Unauthenticated:
                g.pop("principal", None)
        return None
    _authenticate()
    scopes = g.principal.scopes
    if scopes:
        view = current_app.view_functions.get(request.endpoint)
        allowed: frozenset[str] = getattr(view, "_tether_scopes", frozenset())
        if not allowed & set(scopes):
            raise PermissionDenied(f"This token is limited to the {', '.join(scopes)} routes")
    if policy in ROLE_RANK and not g.principal.has_role(policy):
        raise PermissionDenied(f"This action needs the {policy} role or higher")
    return None


def end_request(resp: Response) -> Response:
    session = g.pop("_db", None)
    if session is not None:
        try:
            if resp.status_code < 400:
                session.commit()
            else:
                session.rollback()
        except IntegrityError as exc:
            session.rollback()
            logger.info("commit conflict: %s", exc.orig)
            resp = error_response(409, "ALREADY_EXISTS", "The change conflicts with existing data")
        except DBAPIError as exc:
            # The database went away between the view and the COMMIT: the write is not acknowledged
            # (the client retries; batches carry an Idempotency-Key, so a COMMIT that did land replays).
            if not is_connection_error(exc):
                raise
            _rollback_quietly(session)
            resp = database_unavailable(exc)
        finally:
            session.close()
    headers = resp.headers
    have = set(headers.keys(lower=True))  # setdefault would raise and catch a KeyError per header
    for lower, k, v in _SECURITY_LOWER:
        if lower not in have:
            headers.add(k, v)
    headers["X-Request-Id"] = g.get("request_id", "")
    seconds = time.perf_counter() - g.get("t0", time.perf_counter())
    rule = request.url_rule
    context.runtime().metrics.observe_request(
        rule.rule if rule is not None else "<unmatched>", request.method, resp.status_code, seconds
    )
    if current_app.config.get("TETHER_ACCESS_LOG", True):
        logconfig.log_request(resp, seconds * 1000)
    return resp


def _rollback_quietly(session: Any) -> None:
    try:
        session.rollback()
    except DBAPIError:  # the connection is gone; the pool has already invalidated it
        pass


def teardown(exc: BaseException | None) -> None:
    session = g.pop("_db", None)
    if session is not None:
        _rollback_quietly(session)
        session.close()


def decimal_upto(limit: int) -> str:
    """A regex (no groups) for the decimal numbers 0..limit written with at most len(str(limit)) digits."""
    n = str(limit)
    alts = [rf"\d{{1,{len(n) - 1}}}"] if len(n) > 1 else []
    alts += [rf"{n[:i]}[0-{int(c) - 1}]\d{{{len(n) - i - 1}}}" for i, c in enumerate(n) if c != "0"]
    return "(?:" + "|".join([*alts, n]) + ")"


class IdConverter(IntegerConverter):
    """``<int:...>``: every integer in a route names an INTEGER (32-bit) column, so a larger one matches no
    route (404, whatever the method) instead of overflowing the database driver (a 500). Capped by the
    regex, not ``max``: werkzeug answers 405 when a converter rejects a value that a route with another
    method would have taken."""

    regex = decimal_upto(2**31 - 1)


def install(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.session_interface = CookieSessions()
    app.before_request(begin_request)
    app.after_request(end_request)
    app.teardown_request(teardown)
