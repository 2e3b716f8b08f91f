"""Promotion review: pending requests, the review page (candidate vs current Production), approve/reject.

The buttons are shown only to reviewers who did not make the request; the POST route needs the
reviewer role and the transitions service enforces the four-eyes rule anyway. JSON twins mirror
``GET /api/v1/transition-requests`` and ``GET /api/v1/transition-requests/<id>`` plus the comparison.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select

from .. import context
from ..access import access
from ..errors import InvalidArgument
from ..models.registry import ModelVersion, TransitionRequest
from ..services.events import audit
from ..services.explain import explanations as explain
from ..services.registry import deploy, transitions
from .common import page
from .pages_abtests import evidence_for

STATUSES = ("pending", "approved", "rejected", "cancelled")


@access("viewer")
def reviews_list() -> Any:
    s, me = context.db(), context.principal()
    status = request.args.get("status", "pending")
    mine = request.args.get("for") == "me"  # "Waiting for me": the nav badge's requests
    rows, nxt = transitions.list_requests(
        s,
        me,
        status="pending" if mine else (status if status in STATUSES else None),
        model=request.args.get("model") or None,
        max_results=100,
        page_token=request.args.get("page_token") or None,
        decidable=mine,
    )
    data = {
        "items": transitions.describe(s, rows),
        "next_page_token": nxt,
        "status": "waiting for me" if mine else status,
    }
    return page("reviews.html", data, statuses=STATUSES, mine=mine)


def _side(name: str, version_id: int | None) -> dict[str, Any] | None:
    if version_id is None:
        return None
    d = deploy.describe_version(context.db(), context.store(), False, "", name, version_id)
    return {k: d[k] for k in ("version", "stage", "aliases", "run_id", "metadata", "datasets", "created_at")}


def _production_id(model_id: int) -> int | None:
    return context.db().scalar(
        select(ModelVersion.id).where(ModelVersion.model_id == model_id, ModelVersion.stage == "Production")
    )


def _data_changed(candidate: dict[str, Any], production: dict[str, Any] | None) -> bool | None:
    if production is None:
        return None
    key = lambda side: sorted((d["name"], d["context"], d["hash"]) for d in side["datasets"])  # noqa: E731
    return key(candidate) != key(production)


def _transition_of(details: dict[str, Any]) -> Any:
    """The transition an audit row is about: ``transition_id``; rows written before that name key
    it as ``request`` (transition events) or ``request_id`` (stage changes)."""
    for key in ("transition_id", "request", "request_id"):
        if details.get(key) is not None:
            return details[key]
    return None


def _events(name: str, req: TransitionRequest) -> list[dict[str, Any]]:
    rows = audit.list_events(context.db(), model=name, since=req.created_at, limit=500)
    mine = [e for e in rows if _transition_of(e.details or {}) == req.id]
    return [
        {
            "id": e.id,
            "ts": e.ts,
            "actor": e.actor_name,
            "action": e.action,
            "from": e.from_value,
            "to": e.to_value,
            "comment": e.comment,
        }
        for e in mine
    ]


@access("viewer")
def review(transition_id: int) -> Any:
    me = context.principal()
    req = transitions.get_request(context.db(), me, transition_id)
    described = transitions.describe(context.db(), [req])[0]
    name = described["model"]
    candidate = _side(name, req.version_id)
    prod_id = _production_id(req.model_id)
    production = _side(name, prod_id) if prod_id != req.version_id else None
    assert candidate is not None
    metric_keys = sorted(
        set(candidate["metadata"].get("metrics", {}))
        | set((production or {}).get("metadata", {}).get("metrics", {}))
    )
    data = {
        "request": described,
        "candidate": candidate,
        "production": production,
        "metric_keys": metric_keys,
        "data_changed": _data_changed(candidate, production),
        "can_decide": transitions.can_decide(context.db(), me, req),
        "is_requester": req.requested_by == me.id,
        "events": _events(name, req),
        "abtest": evidence_for(req.id),
        "explanation_comparison": explain.comparison_for_request(context.db(), req),
    }
    return page("review.html", data)


@access("reviewer")
def decide(transition_id: int) -> Any:
    """Form twin of ``POST /api/v1/transition-requests/<id>/approve`` and ``.../reject``."""
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "").strip()
    if decision not in ("approve", "reject"):
        raise InvalidArgument("decision must be approve or reject", {"field": "decision"})
    fn = transitions.approve if decision == "approve" else transitions.reject
    required = context.settings().require_decision_comment  # the service applies the rule, as for the API
    fn(
        context.db(),
        context.principal(),
        transition_id,
        comment[:10_000],
        request_id=context.request_id(),
        require_comment=required,
    )
    return redirect(url_for("ui_review.review", transition_id=transition_id, done=decision), 303)
