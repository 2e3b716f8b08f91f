from __future__ import annotations

from typing import Any

from .. import context
from ..access import access
from ..schemas.auth import AuditArgs, AuditPageSchema
from ..services import paging
from ..services.events import audit as svc
from . import Blueprint

blp = Blueprint("audit", __name__, description="The append-only audit trail (read only; no edit or delete)")


@blp.route("/audit", methods=["GET"])
@access("reviewer")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPageSchema)
def list_(args: dict[str, Any]) -> Any:
    limit = args.pop("max_results")
    scope = paging.scope_of("audit", args["model"], args["action"], args["actor"], args["since"])
    tok = paging.decode(args.pop("page_token"), scope)
    rows = svc.list_events(context.db(), after_id=tok["after"] if tok else None, limit=limit + 1, **args)
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = paging.encode({"scope": scope, "after": rows[-1].id})
    return {"items": rows, "next_page_token": nxt}
