"""Registry pages: models, a model's versions (stages, aliases), version detail (files, metadata, lineage).

JSON twins: the same URLs with ``Accept: application/json``; they mirror ``GET /api/v1/models``,
``/api/v1/models/<name>/versions`` and ``/api/v1/models/<name>/versions/<v>`` plus the UI's extras.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from .. import context
from ..access import access
from ..errors import InvalidArgument
from ..services.explain import card as cards
from ..services.registry import catalog as registry
from ..services.registry import deploy, lineage, transitions
from . import queries
from .common import page


@access("viewer")
def models_list() -> Any:
    s, me = context.db(), context.principal()
    rows, nxt = registry.list_models(
        s,
        me,
        name_like=request.args.get("q") or None,
        max_results=100,
        page_token=request.args.get("page_token") or None,
    )
    return page(
        "models.html",
        {"items": registry.model_summaries(s, rows), "next_page_token": nxt, "q": request.args.get("q", "")},
    )


@access("viewer")
def model_detail(name: str) -> Any:
    s, me = context.db(), context.principal()
    model = registry.get_model(s, me, name)
    rows, nxt = registry.list_versions(
        s, me, name, max_results=100, page_token=request.args.get("page_token") or None
    )
    aliases = registry.aliases_of(s, [mv.id for mv in rows])
    pending, _ = transitions.list_requests(s, me, status="pending", model=name, max_results=100)
    data = {
        "model": registry.model_summaries(s, [model])[0],
        "versions": [deploy.version_summary(mv, name, aliases[mv.id]) for mv in rows],
        "next_page_token": nxt,
        "pending_requests": transitions.describe(s, pending),
    }
    return page("model_detail.html", data)


@access("viewer")
def version_detail(name: str, version: int) -> Any:
    s, me = context.db(), context.principal()
    _model, mv = registry.get_version(s, me, name, version)
    described = deploy.describe_version(s, context.store(), False, "", name, mv.id)
    pending, _ = transitions.list_requests(s, me, status="pending", model=name, max_results=100)
    data = {
        "version": described,
        "run_name": queries.run_names(s, [mv.run_id]).get(mv.run_id or "") if mv.run_id else None,
        "pending_requests": [r for r in transitions.describe(s, pending) if r["version"] == version],
        "lineage": lineage.model_version_graph(s, me, name, version),
        "card": cards.build_card(s, me, name, version),
    }
    return page("version_detail.html", data, stages=("Staging", "Production", "Archived"))


@access("writer")
def request_transition(name: str, version: int) -> Any:
    """The form twin of ``POST /api/v1/models/<name>/versions/<v>/transition-requests``."""
    comment = request.form.get("comment", "").strip()
    if not comment:
        raise InvalidArgument("A comment is required", {"field": "comment"})
    req = transitions.request_transition(
        context.db(),
        context.principal(),
        name,
        version,
        request.form.get("to_stage", ""),
        comment=comment[:10_000],
        request_id=context.request_id(),
    )
    if req.status == "pending":
        return redirect(url_for("ui_review.review", transition_id=req.id), 303)
    return redirect(url_for("ui_models.version_detail", name=name, version=version), 303)


@access("writer")
def edit_card(name: str, version: int) -> Any:
    """Form twin of ``PUT /api/v1/models/<name>/versions/<v>/card`` (intended use, limitations)."""
    cards.update_card(
        context.db(),
        context.principal(),
        name,
        version,
        intended_use=request.form.get("intended_use", "").strip()[: cards.TEXT_LIMIT],
        limitations=request.form.get("limitations", "").strip()[: cards.TEXT_LIMIT],
        request_id=context.request_id(),
    )
    return redirect(url_for("ui_models.version_detail", name=name, version=version) + "#model-card", 303)
