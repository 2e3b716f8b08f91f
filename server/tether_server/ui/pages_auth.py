"""Login and logout. Passwords are checked with scrypt only here; failures are throttled."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import context
from ..access import access
from ..models import AuditEvent, now_ms
from ..pipeline import _session_version
from ..services.events import publish
from ..services.events import types as ev
from ..services.identity import users as users_svc


def _recent_failures(s: Session, name: str, ip: str) -> int:
    window = context.settings().login_lockout_seconds * 1000
    q = select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "auth.login_failed",
        AuditEvent.ts >= now_ms() - window,
        (AuditEvent.resource_id == name) | (AuditEvent.details["ip"].as_string() == ip),
    )
    return s.scalar(q) or 0


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@access("public")
def login() -> Any:
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("username", "")[:100]
        password = request.form.get("password", "")[:200]
        ip = request.remote_addr or ""
        # The throttle check and the password hash run outside the request transaction: no write
        # lock is held during scrypt, and a failure is recorded in a unit of work of its own, so it
        # is kept although the answer is an error.
        with context.separate() as s:
            throttled = _recent_failures(s, name, ip) >= context.settings().login_max_failures
            user = None if throttled else users_svc.check_login(s, name, password)
        if throttled:
            error, status = "Too many failed attempts. Wait a minute and try again.", 429
        elif user is None:
            with context.separate(write=True) as s:
                publish(
                    s,
                    ev.LoginFailed(
                        actor=None, actor_name=name, name=name, ip=ip, request_id=context.request_id()
                    ),
                )
            error, status = "Invalid user name or password.", 401
        else:
            session.clear()
            session["uid"], session["sv"] = user.id, _session_version(user)
            me = users_svc.principal_of(user, via="session")
            publish(
                context.db(), ev.LoggedIn(actor=me, user_id=user.id, ip=ip, request_id=context.request_id())
            )
            return redirect(request.script_root + _safe_next(request.args.get("next")))
    return render_template("login.html", error=error), status


@access("public")
def logout() -> Any:
    session.clear()
    return redirect(url_for("ui_auth.login"))
