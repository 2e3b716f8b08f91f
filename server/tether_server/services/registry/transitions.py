"""Reviewed stage transitions (four eyes) and promotion policies.

A writer requests ``version → stage``. The effective policy (per model, else global, else the default:
Production 1 approval, other stages 0) says how many distinct approvals are needed; 0 applies the move
at once. Reviewers approve or reject; nobody approves or rejects their own request, admins included.
The approval that completes a request moves the stage (archiving the previous Production version when the
policy or request says so) in the same transaction, under the model's row lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TetherError,
)
from ...models import now_ms
from ...models.registry import (
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
    TransitionApproval,
    TransitionRequest,
)
from .. import paging
from ..events import publish
from ..events import types as ev
from ..identity import permissions
from . import catalog as reg

DEFAULT_APPROVALS = {"None": 0, "Staging": 0, "Production": 1, "Archived": 0}
REQUEST_STATUSES = ("pending", "approved", "rejected", "cancelled")


# ---------------------------------------------------------------- policy


def _policy_row(session: Session, scope: str) -> RegistryPolicy | None:
    return session.scalar(select(RegistryPolicy).where(RegistryPolicy.scope == scope))


def effective_policy(session: Session, model_id: int | None) -> dict[str, Any]:
    approvals = dict(DEFAULT_APPROVALS)
    archive, source = True, "default"
    for scope in ("global", f"model:{model_id}" if model_id else ""):
        row = _policy_row(session, scope) if scope else None
        if row is not None:
            approvals.update(row.required_approvals or {})
            archive, source = row.archive_existing_production, scope
    return {"required_approvals": approvals, "archive_existing_production": archive, "source": source}


def get_policy(session: Session, actor: Principal, name: str | None) -> dict[str, Any]:
    model = reg.get_model(session, actor, name) if name else None
    return {"model": name, **effective_policy(session, model.id if model else None)}


def set_policy(
    session: Session,
    actor: Principal,
    name: str | None,
    *,
    required_approvals: dict[str, int],
    archive_existing_production: bool | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    model = reg.get_model(session, actor, name, "MANAGE") if name else None
    if model is None and not actor.is_admin:
        raise PermissionDenied("Changing the global registry policy needs the admin role")
    clean: dict[str, int] = {}
    for stage, n in (required_approvals or {}).items():
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10:
            raise InvalidArgument(
                "required_approvals values are integers 0-10", {"field": "required_approvals"}
            )
        clean[reg.canonical_stage(stage)] = n
    scope = f"model:{model.id}" if model else "global"
    before = effective_policy(session, model.id if model else None)
    row = _policy_row(session, scope)
    if row is None:
        row = RegistryPolicy(scope=scope, model_id=model.id if model else None, required_approvals={})
        session.add(row)
    row.required_approvals = {**(row.required_approvals or {}), **clean}
    if archive_existing_production is not None:
        row.archive_existing_production = archive_existing_production
    row.updated_by, row.updated_at = actor.id, now_ms()
    session.flush()
    after = effective_policy(session, model.id if model else None)
    publish(
        session,
        ev.PolicyChanged(
            actor=actor,
            request_id=request_id,
            model_id=model.id if model else None,
            model=name,
            before=before,
            after=after,
        ),
    )
    return {"model": name, **after}


# ---------------------------------------------------------------- requests


def request_transition(
    session: Session,
    actor: Principal,
    name: str,
    version: int,
    to_stage: str,
    *,
    comment: str = "",
    archive_existing: bool | None = None,
    request_id: str = "",
) -> TransitionRequest:
    model, mv = reg.get_version(session, actor, name, version, "EDIT")
    to = reg.canonical_stage(to_stage)
    if mv.stage == to:
        raise FailedPrecondition(f"Version {version} is already in {to}")
    if (
        session.scalar(
            select(TransitionRequest.id).where(
                TransitionRequest.version_id == mv.id,
                TransitionRequest.to_stage == to,
                TransitionRequest.status == "pending",
            )
        )
        is not None
    ):
        raise AlreadyExists(f"A request to move version {version} to {to} is already pending")
    pol = effective_policy(session, model.id)
    need = int(pol["required_approvals"].get(to, 0))
    req = TransitionRequest(
        model_id=model.id,
        version_id=mv.id,
        from_stage=mv.stage,
        to_stage=to,
        comment=comment or "",
        required_approvals=need,
        requested_by=actor.id,
        requested_by_name=actor.name,
        status="pending" if need else "approved",
        archive_existing=pol["archive_existing_production"] if archive_existing is None else archive_existing,
    )
    session.add(req)
    session.flush()
    publish(
        session,
        ev.TransitionRequested(
            **_about(req, mv, model), required_approvals=need, **_by(actor, comment, request_id)
        ),
    )
    if need == 0:
        reg.lock_model(session, model.id)
        _complete(session, actor, model, req, "applied directly: the policy requires no approval", request_id)
    return req


def _about(req: TransitionRequest, mv: ModelVersion | None, model: RegisteredModel) -> dict[str, Any]:
    """The fields every transition event carries."""
    return {
        "model_id": model.id,
        "model": model.name,
        "transition_id": req.id,
        "version": mv.version if mv else None,
        "from_stage": req.from_stage,
        "to_stage": req.to_stage,
        "status": req.status,
        "requested_by": req.requested_by_name,
    }


def _by(actor: Principal, comment: str, request_id: str) -> dict[str, Any]:
    return {"actor": actor, "comment": comment or "", "request_id": request_id}


def get_request(session: Session, actor: Principal, transition_id: int) -> TransitionRequest:
    """A transition request the caller may READ (its model's grant); NotFound otherwise."""
    req = session.get(TransitionRequest, transition_id)
    if req is None:
        raise NotFound(f"Transition request {transition_id} not found")
    permissions.require(session, actor, "model", req.model_id, "READ", f"Transition request {transition_id}")
    return req


def _locked_request(
    session: Session, actor: Principal, transition_id: int
) -> tuple[RegisteredModel, TransitionRequest]:
    req = get_request(session, actor, transition_id)
    model = session.get(RegisteredModel, req.model_id)
    reg.lock_model(session, req.model_id)
    req = session.scalars(
        select(TransitionRequest)
        .where(TransitionRequest.id == transition_id)
        .execution_options(populate_existing=True)
    ).one()
    if req.status != "pending":
        raise FailedPrecondition(
            f"Transition request {transition_id} is already {req.status}", {"status": req.status}
        )
    return model, req  # type: ignore[return-value]


def decision_refusal(
    session: Session, actor: Principal, req: TransitionRequest, verb: str = "approve"
) -> TetherError | None:
    """Why ``actor`` may not ``verb`` ("approve" or "reject") ``req``, or None if they may: the
    four-eyes rule, written once for the API and the review page. Only pending requests are
    decided, only by reviewers, never by their requester (admins included), and nobody approves
    twice."""
    if req.status != "pending":
        return FailedPrecondition(
            f"Transition request {req.id} is already {req.status}", {"status": req.status}
        )
    if not actor.has_role("reviewer"):
        return PermissionDenied(f"Only reviewers can {verb} transition requests")
    if req.requested_by == actor.id:
        return PermissionDenied(
            f"Nobody can {verb} their own transition request (four-eyes rule), admins "
            "included; ask another reviewer" + ("" if verb == "approve" else ", or cancel it")
        )
    if verb == "approve" and session.get(TransitionApproval, (req.id, actor.id)) is not None:
        return AlreadyExists("You already approved this request; it needs approvals from other reviewers")
    return None


def can_decide(session: Session, actor: Principal, req: TransitionRequest) -> bool:
    """Whether ``actor`` may approve ``req`` now (the review page shows its decision form then)."""
    return decision_refusal(session, actor, req) is None


def _check_decision(session: Session, actor: Principal, req: TransitionRequest, verb: str) -> None:
    refused = decision_refusal(session, actor, req, verb)
    if refused is not None:
        raise refused


def approve(
    session: Session,
    actor: Principal,
    transition_id: int,
    comment: str = "",
    request_id: str = "",
    *,
    require_comment: bool = True,
) -> TransitionRequest:
    model, req = _locked_request(session, actor, transition_id)
    _check_decision(session, actor, req, "approve")
    check_decision_comment(comment, require_comment)
    session.add(
        TransitionApproval(
            transition_id=req.id, user_id=actor.id, user_name=actor.name, comment=comment or ""
        )
    )
    session.flush()
    count = session.scalar(select(func.count()).where(TransitionApproval.transition_id == req.id)) or 0
    mv = session.get(ModelVersion, req.version_id)
    publish(
        session,
        ev.TransitionApprovalAdded(
            **_about(req, mv, model),
            approvals=count,
            required=req.required_approvals,
            **_by(actor, comment, request_id),
        ),
    )
    if count >= req.required_approvals:
        _complete(session, actor, model, req, comment, request_id)
    return req


def _complete(
    session: Session,
    actor: Principal,
    model: RegisteredModel,
    req: TransitionRequest,
    comment: str,
    request_id: str,
) -> None:
    mv = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.id == req.version_id)
        .execution_options(populate_existing=True)
    ).one()
    if mv.stage != req.from_stage:
        raise FailedPrecondition(
            f"Version {mv.version} moved from {req.from_stage} to {mv.stage} after this request was made; it can "
            "no longer be applied. Reject or cancel it and request again.",
            {"requested_from": req.from_stage, "current_stage": mv.stage, "request": req.id},
        )
    req.status, req.decided_at, req.decided_by_name, req.decision_comment = (
        "approved",
        now_ms(),
        actor.name,
        comment,
    )
    publish(session, ev.TransitionApproved(**_about(req, mv, model), **_by(actor, comment, request_id)))
    reg.apply_stage(
        session,
        actor,
        model,
        mv,
        req.to_stage,
        archive_existing=req.archive_existing,
        comment=req.comment,
        request_id=request_id,
        transition_id=req.id,
    )


def reject(
    session: Session,
    actor: Principal,
    transition_id: int,
    comment: str = "",
    request_id: str = "",
    *,
    require_comment: bool = True,
) -> TransitionRequest:
    model, req = _locked_request(session, actor, transition_id)
    _check_decision(session, actor, req, "reject")
    check_decision_comment(comment, require_comment)
    return _close(session, actor, model, req, "rejected", comment, request_id)


def cancel(
    session: Session, actor: Principal, transition_id: int, comment: str = "", request_id: str = ""
) -> TransitionRequest:
    model, req = _locked_request(session, actor, transition_id)
    if req.requested_by != actor.id:
        permissions.require(
            session, actor, "model", model.id, "MANAGE", f"Transition request {transition_id}"
        )
    return _close(session, actor, model, req, "cancelled", comment, request_id)


def _close(
    session: Session,
    actor: Principal,
    model: RegisteredModel,
    req: TransitionRequest,
    status: str,
    comment: str,
    request_id: str,
) -> TransitionRequest:
    req.status, req.decided_at, req.decided_by_name, req.decision_comment = (
        status,
        now_ms(),
        actor.name,
        comment,
    )
    mv = session.get(ModelVersion, req.version_id)
    kind = ev.TransitionRejected if status == "rejected" else ev.TransitionCancelled
    publish(session, kind(**_about(req, mv, model), **_by(actor, comment, request_id)))
    return req


def list_requests(
    session: Session,
    actor: Principal,
    *,
    status: str | None = "pending",
    model: str | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> tuple[list[TransitionRequest], str | None]:
    if status is not None and status not in REQUEST_STATUSES:
        raise InvalidArgument(f"status must be one of {list(REQUEST_STATUSES)}", {"field": "status"})
    scope = paging.scope_of("transition-requests", status, model)
    tok = paging.decode(page_token, scope)
    q = select(TransitionRequest).where(permissions.filter_clause(actor, "model", TransitionRequest.model_id))
    if status:
        q = q.where(TransitionRequest.status == status)
    if model:
        q = q.join(RegisteredModel, RegisteredModel.id == TransitionRequest.model_id).where(
            RegisteredModel.name == model
        )
    if tok:
        q = q.where(TransitionRequest.id > int(tok["after"]))
    rows = list(session.scalars(q.order_by(TransitionRequest.id).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "after", lambda r: r.id)


def describe(session: Session, reqs: list[TransitionRequest]) -> list[dict[str, Any]]:
    """Requests as API dicts (model name, version number, approvals) in three queries."""
    if not reqs:
        return []
    names = dict(
        session.execute(
            select(RegisteredModel.id, RegisteredModel.name).where(
                RegisteredModel.id.in_({r.model_id for r in reqs})
            )
        ).all()
    )
    numbers = dict(
        session.execute(
            select(ModelVersion.id, ModelVersion.version).where(
                ModelVersion.id.in_({r.version_id for r in reqs})
            )
        ).all()
    )
    approvals: dict[int, list[dict[str, Any]]] = {r.id: [] for r in reqs}
    for a in session.scalars(
        select(TransitionApproval)
        .where(TransitionApproval.transition_id.in_(list(approvals)))
        .order_by(TransitionApproval.created_at)
    ):
        approvals[a.transition_id].append(
            {"user": a.user_name, "comment": a.comment, "created_at": a.created_at}
        )
    return [
        {
            "id": r.id,
            "model": names.get(r.model_id),
            "version": numbers.get(r.version_id),
            "from_stage": r.from_stage,
            "to_stage": r.to_stage,
            "status": r.status,
            "comment": r.comment,
            "archive_existing": r.archive_existing,
            "required_approvals": r.required_approvals,
            "approvals": approvals[r.id],
            "requested_by": r.requested_by_name,
            "created_at": r.created_at,
            "decided_at": r.decided_at,
            "decided_by": r.decided_by_name,
            "decision_comment": r.decision_comment,
        }
        for r in reqs
    ]


def check_decision_comment(comment: str | None, required: bool) -> None:
    """One rule for the review page and the API: approving or rejecting needs a comment that is not
    blank after trimming whitespace (policy ``TETHER_REQUIRE_DECISION_COMMENT``, on by default)."""
    if required and not (comment or "").strip():
        raise InvalidArgument(
            "A comment is required to approve or reject (TETHER_REQUIRE_DECISION_COMMENT)",
            {"field": "comment"},
        )
