"""The audit trail, filterable by model, action (``*`` wildcard), actor and start date; newest first.

JSON twin: the same URL with ``Accept: application/json`` (the API's ``GET /api/v1/audit`` pages oldest
first with the same filters).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request

from .. import context
from ..access import access
from ..errors import InvalidArgument
from ..services import paging
from ..services.events import audit
from .common import page

PAGE = 100


def _since(raw: str) -> int | None:
    if not raw:
        return None
    try:
        day = dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidArgument("since must be a date like 2025-01-31", {"field": "since"}) from None
    return int(day.timestamp() * 1000)


@access("reviewer")
def audit_trail() -> Any:
    filters = {k: request.args.get(k, "").strip()[:200] for k in ("model", "action", "actor", "since")}
    scope = paging.scope_of("ui-audit", filters)
    tok = paging.decode(request.args.get("page_token") or None, scope)
    rows = audit.list_events(
        context.db(),
        model=filters["model"] or None,
        action=filters["action"] or None,
        actor=filters["actor"] or None,
        since=_since(filters["since"]),
        before_id=tok["before"] if tok else None,
        newest_first=True,
        limit=PAGE + 1,
    )
    nxt = paging.encode({"scope": scope, "before": rows[PAGE - 1].id}) if len(rows) > PAGE else None
    items = [
        {
            "id": e.id,
            "ts": e.ts,
            "actor": e.actor_name,
            "action": e.action,
            "resource_type": e.resource_type,
            "resource_id": e.resource_id,
            "model": e.model_name,
            "from": e.from_value,
            "to": e.to_value,
            "comment": e.comment,
            "details": e.details,
            "request_id": e.request_id,
        }
        for e in rows[:PAGE]
    ]
    return page("audit.html", {"items": items, "next_page_token": nxt, "filters": filters})
