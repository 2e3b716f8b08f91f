"""Login and logout. Passwords are checked with scrypt only here; failures are throttled."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from .. import context
from ..access import access
from ..models import AuditEvent, now_ms
from ..pipeline import _session_version
from ..services.events import publish
from ..services.events import types as ev
from ..services.identity import users as users_svc

bp = Blueprint("ui_auth", __name__)


def _recent_failures(name: str, ip: str) -> int:
    window = context.settings().login_lockout_seconds * 1000
    q = select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "auth.login_failed",
        AuditEvent.ts >= now_ms() - window,
        (AuditEvent.resource_id == name) | (AuditEvent.details["ip"].as_string() == ip),
    )
    return context.db().scalar(q) or 0


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@bp.route("/login", methods=["GET", "POST"])
@access("public")
def login() -> Any:
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("username", "")[:100]
        password = request.form.get("password", "")[:200]
        ip = request.remote_addr or ""
        s = context.db()
        if _recent_failures(name, ip) >= context.settings().login_max_failures:
            error, status = "Too many failed attempts. Wait a minute and try again.", 429
        else:
            user = users_svc.check_login(s, name, password)
            if user is None:
                publish(
                    s,
                    ev.LoginFailed(
                        actor=None, actor_name=name, name=name, ip=ip, request_id=context.request_id()
                    ),
                )
                context.g.rollback_only = False
                error, status = "Invalid user name or password.", 401
            else:
                session.clear()
                session["uid"], session["sv"] = user.id, _session_version(user)
                me = users_svc.principal_of(user, via="session")
                publish(s, ev.LoggedIn(actor=me, user_id=user.id, ip=ip, request_id=context.request_id()))
                s.commit()
                return redirect(_safe_next(request.args.get("next")))
        s.commit()  # keep the failure record even though the answer is an error
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST"])
@access("public")
def logout() -> Any:
    session.clear()
    return redirect(url_for("ui_auth.login"))
