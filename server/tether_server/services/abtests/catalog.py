"""A/B tests: create, read, list, start/stop, and the sticky assignment (the documented
``tether.abtest`` algorithm, the same module the SDK uses).

A test belongs to a registered model. Arms are resolved to versions when the test starts (control
first): the control is a stage (``Production``) or an alias; treatments are aliases or pinned
versions. Creating or changing a test needs EDIT on the model; reading it needs READ.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from tether.abtest import Assigner

from ...access import Principal
from ...db import after_commit
from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ...models import now_ms
from ...models.abtests import ABTest
from ...models.registry import ModelAlias, ModelVersion, RegisteredModel
from ...stats import sequential as seq
from .. import paging
from ..events import publish
from ..events import types as ev
from ..events.bus import EVENT_PUBLISHED
from ..identity import permissions
from ..registry import catalog as reg

METRIC_TYPES = ("proportion", "mean")
DIRECTIONS = ("higher", "lower")
STATUSES = ("draft", "running", "stopped")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\- ]{1,128}$")
METRIC_RE = re.compile(r"^[A-Za-z0-9_.\-/:]{1,250}$")
MAX_ARMS = 10
MAX_GUARDRAILS = 10


def _bad(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, {"field": field})


# ---------------------------------------------------------------- validation


def _metric_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not METRIC_RE.match(value):
        raise _bad(f"{field} must be 1-250 characters of letters, digits and _ . - / :", field)
    return value


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise _bad(f"{field} must be one of {list(choices)}", field)
    return str(value)


def _int_in(value: Any, lo: int, hi: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(f"{field} must be an integer from {lo} to {hi}", field)
    return value


def _traffic(value: Any, arms: int) -> list[float]:
    if value is None:
        return [1.0 / arms] * arms
    if not isinstance(value, list) or len(value) != arms:
        raise _bad(f"traffic must list {arms} shares (control first, then each treatment)", "traffic")
    out = []
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(s) or s <= 0:
            raise _bad("traffic shares must be positive numbers", "traffic")
        out.append(float(s))
    total = sum(out)
    return [s / total for s in out]


def _guardrails(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_GUARDRAILS:
        raise _bad(f"guardrails must be a list of at most {MAX_GUARDRAILS} objects", "guardrails")
    out = []
    for i, g in enumerate(value):
        f = f"guardrails[{i}]"
        if not isinstance(g, dict) or set(g) - {"metric", "metric_type", "direction", "margin"}:
            raise _bad(f"{f} takes metric, metric_type, direction and margin", f)
        margin = g.get("margin", 0.0)
        if (
            isinstance(margin, bool)
            or not isinstance(margin, int | float)
            or not math.isfinite(margin)
            or margin < 0
        ):
            raise _bad(f"{f}.margin must be a finite number >= 0", f"{f}.margin")
        out.append(
            {
                "metric": _metric_name(g.get("metric"), f"{f}.metric"),
                "metric_type": _choice(g.get("metric_type", "mean"), METRIC_TYPES, f"{f}.metric_type"),
                "direction": _choice(g.get("direction"), DIRECTIONS, f"{f}.direction"),
                "margin": float(margin),
            }
        )
    return out


# ---------------------------------------------------------------- arms


def _arm_spec(value: Any, field: str, control: bool) -> dict[str, Any]:
    """``{"name", "kind", "ref"}`` for a stage (control only), an alias or a pinned version."""
    if isinstance(value, int) and not isinstance(value, bool) and not control:
        if value < 1:
            raise _bad(f"{field}: a version is a positive integer", field)
        return {"name": f"v{value}", "kind": "version", "ref": value}
    if not isinstance(value, str) or not value:
        raise _bad(f"{field} must be a stage, an alias" + ("" if control else " or a version number"), field)
    if value.isdigit() and not control:
        return _arm_spec(int(value), field, control)
    try:
        stage = reg.canonical_stage(value)
    except InvalidArgument:
        stage = None
    if stage is not None:
        if not control or stage in ("None", "Archived"):
            raise _bad(f"{field}: only the control may be a stage (Staging or Production)", field)
        return {"name": "control", "kind": "stage", "ref": stage}
    reg.check_alias(value)
    return {"name": "control" if control else value, "kind": "alias", "ref": value}


def _resolve(session: Session, model: RegisteredModel, arm: dict[str, Any]) -> int:
    kind, ref = arm["kind"], arm["ref"]
    if kind == "version":
        q = select(ModelVersion.version).where(ModelVersion.model_id == model.id, ModelVersion.version == ref)
    elif kind == "stage":
        q = (
            select(ModelVersion.version)
            .where(ModelVersion.model_id == model.id, ModelVersion.stage == ref)
            .order_by(ModelVersion.version.desc())
            .limit(1)
        )
    else:
        q = (
            select(ModelVersion.version)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == model.id, ModelAlias.alias == ref)
        )
    version = session.scalar(q)
    if version is None:
        what = {"version": f"version {ref}", "stage": f"a version in {ref}", "alias": f"alias {ref!r}"}[kind]
        raise FailedPrecondition(f"Model {model.name!r} has no {what}", {"arm": arm["name"]})
    return int(version)


def _resolve_arms(
    session: Session, model: RegisteredModel, arms: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = [{**a, "version": _resolve(session, model, a)} for a in arms]
    versions = [a["version"] for a in out]
    if len(set(versions)) != len(versions):
        raise FailedPrecondition(
            "Two arms resolve to the same version; an A/B test compares different versions",
            {"versions": versions},
        )
    return out


# ---------------------------------------------------------------- create / read


def create_test(session: Session, actor: Principal, body: dict[str, Any], request_id: str = "") -> ABTest:
    unknown = set(body) - {
        "model", "name", "description", "control", "treatments", "traffic", "metric", "metric_type",
        "direction", "guardrails", "alpha", "min_units", "min_events", "tuning_n", "draft",
    }  # fmt: skip
    if unknown:
        raise InvalidArgument("Unknown fields in the A/B test", {"fields": sorted(unknown)})
    if not isinstance(body.get("model"), str):
        raise _bad("model (a registered model's name) is required", "model")
    model = reg.get_model(session, actor, body["model"], "EDIT")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name != name.strip():
        raise _bad("name must be 1-128 characters of letters, digits, space and _ . -", "name")
    treatments = body.get("treatments")
    if not isinstance(treatments, list) or not 1 <= len(treatments) < MAX_ARMS:
        raise _bad(f"treatments must list 1-{MAX_ARMS - 1} aliases or versions", "treatments")
    arms = [_arm_spec(body.get("control", "Production"), "control", True)]
    arms += [_arm_spec(t, f"treatments[{i}]", False) for i, t in enumerate(treatments)]
    if len({a["name"] for a in arms}) != len(arms):
        raise _bad("each treatment must be a different alias or version", "treatments")
    alpha = body.get("alpha", seq.DEFAULT_ALPHA)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 0.2:
        raise _bad("alpha must be a number in (0, 0.2]", "alpha")
    draft = body.get("draft", False)
    if not isinstance(draft, bool):
        raise _bad("draft must be true or false", "draft")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 5000:
        raise _bad("description must be a string of at most 5,000 characters", "description")
    if session.scalar(select(ABTest.id).where(ABTest.model_id == model.id, ABTest.name == name)) is not None:
        raise AlreadyExists(f"Model {model.name!r} already has an A/B test named {name!r}")
    test = ABTest(
        model_id=model.id,
        name=name,
        description=description,
        status="draft" if draft else "running",
        state="running",
        arms=arms,
        traffic=_traffic(body.get("traffic"), len(arms)),
        metric=_metric_name(body.get("metric"), "metric"),
        metric_type=_choice(body.get("metric_type"), METRIC_TYPES, "metric_type"),
        direction=_choice(body.get("direction", "higher"), DIRECTIONS, "direction"),
        guardrails=_guardrails(body.get("guardrails")),
        alpha=float(alpha),
        min_units=_int_in(body.get("min_units", seq.DEFAULT_MIN_UNITS), 2, 10**9, "min_units"),
        min_events=_int_in(body.get("min_events", seq.DEFAULT_MIN_EVENTS), 0, 10**9, "min_events"),
        tuning_n=_int_in(body.get("tuning_n", seq.DEFAULT_TUNING_N), 10, 10**9, "tuning_n"),
        decisions={},
        recommendation="",
        created_by=actor.id,
        created_by_name=actor.name,
    )
    if not draft:
        _start(session, actor, model, test, request_id)
    session.add(test)
    session.flush()
    if not draft:
        _publish_started(session, actor, model, test, request_id)
    return test


def _start(session: Session, actor: Principal, model: RegisteredModel, test: ABTest, request_id: str) -> None:
    test.arms = _resolve_arms(session, model, test.arms)
    test.status, test.started_at = "running", now_ms()
    touch(test)


def _publish_started(
    session: Session, actor: Principal, model: RegisteredModel, test: ABTest, rid: str
) -> None:
    publish(
        session,
        ev.ABTestStarted(
            actor=actor, request_id=rid, model_id=model.id, model=model.name, ab_test_id=test.id,
            name=test.name, arms=test.arms, traffic=test.traffic,
        ),
    )  # fmt: skip


def get_test(session: Session, actor: Principal, test_id: int, level: str = "READ") -> ABTest:
    test = session.get(ABTest, test_id)
    if test is None:
        raise NotFound(f"A/B test {test_id} not found")
    permissions.require(session, actor, "model", test.model_id, level, f"A/B test {test_id}")
    return test


def list_tests(
    session: Session,
    actor: Principal,
    *,
    model: str | None = None,
    status: str | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> tuple[list[ABTest], str | None]:
    if status is not None:
        _choice(status, STATUSES, "status")
    scope = paging.scope_of("ab-tests", model, status)
    tok = paging.decode(page_token, scope)
    q = select(ABTest).where(permissions.filter_clause(actor, "model", ABTest.model_id))
    if model:
        q = q.join(RegisteredModel, RegisteredModel.id == ABTest.model_id).where(
            RegisteredModel.name == model
        )
    if status:
        q = q.where(ABTest.status == status)
    if tok:
        q = q.where(ABTest.id < int(tok["before"]))
    rows = list(session.scalars(q.order_by(ABTest.id.desc()).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "before", lambda r: r.id)


def update_status(
    session: Session, actor: Principal, test_id: int, status: Any, request_id: str = ""
) -> ABTest:
    """Start a draft (``running``) or stop a test (``stopped``; an undecided test becomes
    ``inconclusive``). A stopped test does not restart: create a new one."""
    _choice(status, ("running", "stopped"), "status")
    test = get_test(session, actor, test_id, "EDIT")
    model = session.get(RegisteredModel, test.model_id)
    assert model is not None
    if status == test.status:
        return test
    if test.status == "stopped":
        raise FailedPrecondition(f"A/B test {test_id} is stopped; a stopped test does not restart")
    if status == "running":
        _start(session, actor, model, test, request_id)
        session.flush()
        _publish_started(session, actor, model, test, request_id)
        return test
    stop(session, actor, model, test, "manual", request_id)
    return test


def stop(session: Session, actor: Principal | None, model: RegisteredModel, test: ABTest, reason: str,
         request_id: str = "") -> None:  # fmt: skip
    test.status, test.stopped_at = "stopped", now_ms()
    touch(test)
    if test.state == "running":
        test.state = "inconclusive"
    publish(
        session,
        ev.ABTestStopped(
            actor=actor, actor_name=None if actor else "tether-abtests", request_id=request_id,
            model_id=model.id, model=model.name, ab_test_id=test.id, name=test.name, reason=reason,
        ),
    )  # fmt: skip


# ---------------------------------------------------------------- version stamp and assignment


def touch(test: ABTest) -> None:
    """Move ``updated_at`` strictly forward: every change of a test's arms, status, state or
    decisions calls this, so ``(updated_at, created_at, status, state)`` identifies its version
    (``serving`` caches by it)."""
    test.updated_at = max(now_ms(), (test.updated_at or 0) + 1)
    session = object_session(test)
    if session is not None:  # the serving cache re-checks this process's verified stamps
        after_commit(session, EVENT_PUBLISHED)


_ASSIGNERS: dict[tuple[int, tuple[float, ...]], Assigner] = {}


def assigner(test: ABTest) -> Assigner:
    key = (test.id, tuple(test.traffic))
    a = _ASSIGNERS.get(key)
    if a is None:
        if len(_ASSIGNERS) > 10_000:
            _ASSIGNERS.clear()
        a = _ASSIGNERS[key] = Assigner(test.id, test.traffic)
    return a


def stopped_arms(test: ABTest) -> set[int]:
    """Treatment arms that lost or broke a guardrail: their units are routed back to control."""
    names = {name for name, d in (test.decisions or {}).items() if d.get("stop")}
    return {i for i, a in enumerate(test.arms) if a["name"] in names}


def test_json(test: ABTest, model_name: str) -> dict[str, Any]:
    return {
        "id": test.id,
        "model": model_name,
        "name": test.name,
        "description": test.description,
        "status": test.status,
        "state": test.state,
        "control": test.arms[0]["ref"],
        "arms": test.arms,
        "traffic": test.traffic,
        "metric": test.metric,
        "metric_type": test.metric_type,
        "direction": test.direction,
        "guardrails": test.guardrails,
        "alpha": test.alpha,
        "min_units": test.min_units,
        "min_events": test.min_events,
        "tuning_n": test.tuning_n,
        "stopped_arms": sorted(test.arms[i]["name"] for i in stopped_arms(test)),
        "transition_id": test.transition_id,
        "recommendation": test.recommendation,
        "created_by": test.created_by_name,
        "created_at": test.created_at,
        "started_at": test.started_at,
        "stopped_at": test.stopped_at,
        "decided_at": test.decided_at,
    }


def describe(session: Session, tests: list[ABTest]) -> list[dict[str, Any]]:
    if not tests:
        return []
    names = dict(
        session.execute(
            select(RegisteredModel.id, RegisteredModel.name).where(
                RegisteredModel.id.in_({t.model_id for t in tests})
            )
        ).all()
    )
    return [test_json(t, names.get(t.model_id, "")) for t in tests]
