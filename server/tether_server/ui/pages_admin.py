"""Admin pages: users, API tokens, permission grants, webhook subscriptions with their delivery logs.

JSON twins mirror ``GET /api/v1/users``, ``/tokens``, ``/permissions``, ``/webhooks`` and
``/webhooks/<id>/deliveries``. Forms call the same services as the API (and are audited by them).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from .. import context
from ..access import access
from ..services.events import webhooks
from ..services.identity import groups, permissions, users
from ..workers import webhooks as deliver
from .common import page

ROLES = ("viewer", "writer", "reviewer", "admin")


def _user(u: Any) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "active": u.active,
        "created_at": u.created_at,
        "has_password": bool(u.password_hash),
    }


@access("admin")
def users_page() -> Any:
    return page(
        "admin_users.html", {"items": [_user(u) for u in users.list_users(context.db())]}, roles=ROLES
    )


@access("admin")
def create_user() -> Any:
    f = request.form
    users.create_user(
        context.db(),
        context.principal(),
        f.get("name", "").strip(),
        f.get("role", ""),
        f.get("password") or None,
    )
    return redirect(url_for("ui_admin.users_page"), 303)


@access("admin")
def update_user(user_id: int) -> Any:
    s = context.db()
    users.update_user(
        s,
        context.principal(),
        users.get_user(s, user_id),
        role=request.form.get("role") or None,
        active={"1": True, "0": False}.get(request.form.get("active", "")),
    )
    return redirect(url_for("ui_admin.users_page"), 303)


@access("admin")
def tokens_page() -> Any:
    s = context.db()
    names = {u.id: u.name for u in users.list_users(s)}
    items = [
        {
            "id": t.id,
            "user": names.get(t.user_id, t.user_id),
            "name": t.name,
            "prefix": t.display_prefix,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "last_used_at": t.last_used_at,
            "revoked_at": t.revoked_at,
        }
        for t in users.list_tokens(s)
    ]
    return page("admin_tokens.html", {"items": items})


@access("admin")
def revoke_token(token_id: int) -> Any:
    s = context.db()
    users.revoke_token(s, context.principal(), users.get_token(s, token_id))
    return redirect(url_for("ui_admin.tokens_page"), 303)


@access("admin")
def permissions_page() -> Any:
    s = context.db()
    names = {u.id: u.name for u in users.list_users(s)}
    group_names = {g.id: g.name for g in groups.list_groups(s)}
    items = [
        {
            "id": row["grant"].id,
            "user_id": row["grant"].user_id,
            "group_id": row["grant"].group_id,
            "grantee": row["grantee"],
            "resource": row["resource"],
            "resource_type": row["grant"].resource_type,
            "resource_id": row["grant"].resource_id,
            "level": row["grant"].level,
            "created_at": row["grant"].created_at,
        }
        for row in permissions.describe(s, permissions.list_grants(s))
    ]
    return page(
        "admin_permissions.html",
        {"items": items},
        users=names,
        groups=group_names,
        levels=permissions.LEVELS,
        resource_types=permissions.RESOURCE_TYPES,
    )


@access("admin")
def change_permission() -> Any:
    f, s, me = request.form, context.db(), context.principal()
    kind, _, ident = f.get("grantee", f"user:{f.get('user_id', '')}").partition(":")
    grantee_id = int(ident) if ident.isdigit() else 0
    user_id, group_id = (None, grantee_id) if kind == "group" else (grantee_id, None)
    rtype, rid = f.get("resource_type", ""), f.get("resource_id", "")
    if f.get("level") == "REVOKE":
        permissions.revoke_grant(s, me, user_id, resource_type=rtype, resource_id=rid, group_id=group_id)
    else:
        permissions.set_grant(
            s, me, user_id, resource_type=rtype, resource_id=rid, level=f.get("level", ""), group_id=group_id
        )
    return redirect(url_for("ui_admin.permissions_page"), 303)


def _sub(w: Any) -> dict[str, Any]:
    return {
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "model": w.model_name,
        "active": w.active,
        "description": w.description,
        "created_at": w.created_at,
    }


@access("admin")
def webhooks_page() -> Any:
    items = [_sub(w) for w in webhooks.list_subscriptions(context.db())]
    return page("admin_webhooks.html", {"items": items, "created_secret": None}, events=webhooks.EVENTS)


@access("admin")
def create_webhook() -> Any:
    f, s = request.form, context.db()
    sub, secret = webhooks.create_subscription(
        s,
        context.principal(),
        url=f.get("url", "").strip(),
        events=f.getlist("events"),
        allowlist=context.settings().webhook_allowlist,
        secret=f.get("secret") or None,
        model_name=f.get("model") or None,
        description=f.get("description", "")[:500],
    )
    items = [_sub(w) for w in webhooks.list_subscriptions(s)]
    # The secret is shown once, in this response only (never in a redirect URL or a log).
    return page(
        "admin_webhooks.html",
        {"items": items, "created_secret": {"id": sub.id, "secret": secret}},
        201,
        events=webhooks.EVENTS,
    )


@access("admin")
def webhook_detail(webhook_id: int) -> Any:
    s = context.db()
    sub = webhooks.get_subscription(s, webhook_id)
    rows, nxt = webhooks.list_deliveries(
        s, webhook_id, max_results=100, page_token=request.args.get("page_token") or None
    )
    deliveries = [
        {
            "id": d.id,
            "event": d.event,
            "status": d.status,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "created_at": d.created_at,
            "last_attempt_at": d.last_attempt_at,
            "delivered_at": d.delivered_at,
            "next_attempt_at": d.next_attempt_at,
        }
        for d in rows
    ]
    return page(
        "admin_webhook.html", {"webhook": _sub(sub), "deliveries": deliveries, "next_page_token": nxt}
    )


@access("admin")
def ping_webhook(webhook_id: int) -> Any:
    deliver.ping(context.database(), context.settings(), context.principal(), webhook_id)
    return redirect(url_for("ui_admin.webhook_detail", webhook_id=webhook_id), 303)
