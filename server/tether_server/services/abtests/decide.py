"""Results and decisions of an A/B test.

``results`` computes, for every look, per arm n, mean, the effect against control with the current
always-valid interval (``stats.sequential``: the asymptotic confidence sequence, α split across
treatments), the guardrails and the sample-ratio check (``stats.srm``, always-valid), each number
with one plain sentence. ``evaluate`` acts on the first decision reached and keeps it (the sequence
is valid at any stopping time, so later looks never re-decide):

* SRM flagged: the test is ``invalid`` and stopped, an ``srm`` alert opens, ``abtest.decided`` and
  ``abtest.stopped`` are published. No effect of that test can be trusted.
* A treatment loses on the primary metric, or breaks a guardrail: an alert (``treatment_worse`` /
  ``guardrail``) and ``abtest.stopped`` for that arm (its units are served the control from then on);
  when every treatment has stopped, the test is ``treatment_worse`` and stopped.
* A treatment wins with every guardrail checked on the minimum sample and none violated: the test
  is ``treatment_better`` and ``abtest.decided`` is published. When the control is a stage, ONE
  transition request moves the winning version to that stage, requested in the test creator's name
  with the evidence in its comment; it needs at least one reviewer whatever the stage's policy
  (four eyes: the creator cannot approve it). Tether never promotes by itself. When the control is
  an alias, the test only records the recommendation (aliases have no review path).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..._lazy import lazy_module
from ...access import Principal
from ...errors import TetherError
from ...models import User, now_ms
from ...models.abtests import ABTest
from ...models.registry import RegisteredModel
from ...stats import sequential as seq
from ...stats.srm import srm_check
from ..events import publish
from ..events import types as ev
from ..monitoring import alerts
from ..registry import transitions
from . import explain
from .catalog import stop, touch
from .outcomes import Row, arm_stats, history, metric_types, read_aggregates

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

logger = logging.getLogger(__name__)


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _interval(iv: seq.SequenceInterval) -> dict[str, Any]:
    return {"effect": _f(iv.effect), "lower": _f(iv.lower), "upper": _f(iv.upper), "p_value": _f(iv.p_value),
            "alpha": iv.alpha, "n_total": iv.n_total}  # fmt: skip


@dataclass
class Evaluation:
    results: dict[str, Any]
    new_srm: dict[str, Any] | None = None
    new_decisions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.new_srm is not None or bool(self.new_decisions)


def compute(session: Session, test: ABTest, rows: tuple[Row, ...] | None = None) -> Evaluation:
    """Everything the results page shows, and the decisions this look would take (not applied).
    ``rows`` are the test's ``read_aggregates`` when the caller has them (one statement reads all)."""
    if rows is None:
        rows = read_aggregates(session, test.id, metric_types(test))
    kw: dict[str, Any] = {"alpha": test.alpha, "n_treatments": len(test.arms) - 1, "tuning_n": test.tuning_n,
          "min_units": test.min_units, "min_events": test.min_events}  # fmt: skip
    primary = arm_stats(test, rows, test.metric)
    guard_stats = [arm_stats(test, rows, g["metric"]) for g in test.guardrails]
    srm = srm_check([a.n for a in primary], test.traffic)
    kept_srm = test.srm if test.srm and test.srm.get("flagged") else None
    flagged = bool(kept_srm) or srm.flagged
    live = test.status == "running" and test.state in ("running", "treatment_better")
    out = Evaluation(results={})
    if srm.flagged and not kept_srm and live:
        out.new_srm = {"flagged": True, "p_value": srm.p_value, "chi2_p_value": srm.chi2_p_value,
                       "observed": [a.n for a in primary], "at": now_ms()}  # fmt: skip
    arms = []
    for i, arm in enumerate(test.arms):
        a = primary[i]
        row: dict[str, Any] = {"name": arm["name"], "kind": arm["kind"], "ref": arm["ref"],
                               "version": arm.get("version"), "n": a.n, "events": a.events, "mean": _f(a.mean),
                               "planned_share": test.traffic[i],
                               "observed_share": srm.observed_shares[i] if sum(x.n for x in primary) else None}  # fmt: skip
        if i == 0:
            row["explain"] = explain.control(test, row)
            arms.append(row)
            continue
        d = seq.decide(
            primary[0],
            a,
            metric_type=test.metric_type,  # type: ignore[arg-type]
            direction=test.direction,  # type: ignore[arg-type]
            stopped=test.status == "stopped",
            srm_flagged=flagged,
            **kw,
        )
        guards = []
        for g, gs in zip(test.guardrails, guard_stats, strict=True):
            gr = seq.guardrail(gs[0], gs[i], metric_type=g["metric_type"], direction=g["direction"],
                               margin=g["margin"], **kw)  # fmt: skip
            guards.append({**g, "n": [gs[0].n, gs[i].n], "violated": gr.violated, "enough_data": gr.enough_data,
                           "reason": gr.reason, **_interval(gr.interval)})  # fmt: skip
        kept = (test.decisions or {}).get(arm["name"])
        row.update(_interval(d.interval))
        row.update({"current": d.state.value, "reason": d.reason, "guardrails": guards, "decision": kept})
        row["state"] = kept["state"] if kept else (
            "invalid" if flagged else ("inconclusive" if test.status == "stopped" else "running"))  # fmt: skip
        if live and not flagged and kept is None:
            new = _new_decision(d, guards)
            if new is not None:
                out.new_decisions[arm["name"]] = {**new, **_interval(d.interval), "n": [primary[0].n, a.n],
                                                  "means": [_f(primary[0].mean), _f(a.mean)],
                                                  "guardrails": guards, "version": arm.get("version"),
                                                  "at": now_ms()}  # fmt: skip
        row["explain"] = explain.treatment(test, row, primary[0])
        for g in guards:
            g["explain"] = explain.guardrail(test, row["name"], g)
        arms.append(row)
    srm_json = {"flagged": flagged, "p_value": srm.p_value, "chi2_p_value": srm.chi2_p_value,
                "threshold": srm.threshold, "observed_shares": list(srm.observed_shares),
                "planned_shares": list(srm.planned_shares), "kept": kept_srm}  # fmt: skip
    srm_json["explain"] = explain.srm(srm_json)
    out.results = {"id": test.id, "name": test.name, "status": test.status, "state": test.state,
                   "metric": test.metric, "metric_type": test.metric_type, "direction": test.direction,
                   "alpha": test.alpha, "min_units": test.min_units, "min_events": test.min_events,
                   "arms": arms, "srm": srm_json, "transition_id": test.transition_id,
                   "recommendation": test.recommendation, "history": _history(test, rows, kw)}  # fmt: skip
    out.results["explain"] = explain.state(test)
    return out


def _new_decision(d: seq.Decision, guards: list[dict[str, Any]]) -> dict[str, Any] | None:
    broken = [g["metric"] for g in guards if g["violated"]]
    if broken:
        return {"state": "treatment_worse", "reason": "guardrail", "stop": True, "broken": broken}
    if d.state == seq.State.TREATMENT_WORSE:
        return {"state": "treatment_worse", "reason": "treatment_worse", "stop": True}
    if d.state == seq.State.TREATMENT_BETTER and all(g["enough_data"] for g in guards):
        return {"state": "treatment_better", "reason": "treatment_better", "stop": False}
    return None  # no decision yet (a winner waits until its guardrails have the minimum sample)


def _history(test: ABTest, rows: tuple[Row, ...], kw: dict[str, Any]) -> list[dict[str, Any]]:
    points = history(test, rows)
    if not points or len(test.arms) < 2:
        return []
    cum = np.stack([p[1] for p in points])  # (t, arm, [n, sum, sum_sq])
    out: list[dict[str, Any]] = [{"t": t, "arms": {}} for t, _ in points]
    for i in range(1, len(test.arms)):
        e, lo, hi, _se = seq.difference_cs(
            cum[:, 0, 0], cum[:, 0, 1], cum[:, 0, 2], cum[:, i, 0], cum[:, i, 1], cum[:, i, 2],
            metric_type=test.metric_type,  # type: ignore[arg-type]
            alpha=kw["alpha"], n_treatments=kw["n_treatments"], tuning_n=kw["tuning_n"],
        )  # fmt: skip
        for j, p in enumerate(out):
            p["arms"][test.arms[i]["name"]] = {"n": int(cum[j, i, 0]), "n_control": int(cum[j, 0, 0]),
                                               "effect": _f(float(e[j])), "lower": _f(float(lo[j])),
                                               "upper": _f(float(hi[j]))}  # fmt: skip
    return out


# ---------------------------------------------------------------- acting on decisions


def results(session: Session, test: ABTest) -> dict[str, Any]:
    return compute(session, test).results


def evaluate(session: Session, test_id: int) -> dict[str, Any]:
    """Look once and act on new decisions, in the caller's (write) transaction; returns results."""
    test = _locked(session, test_id)
    e = compute(session, test)
    if not e.pending:
        return e.results
    model = session.get(RegisteredModel, test.model_id)
    assert model is not None
    if e.new_srm is not None:
        _invalidate(session, model, test, e.new_srm)
    else:
        for arm_name, dec in e.new_decisions.items():
            _record(session, model, test, arm_name, dec)
        _close_if_all_lost(session, model, test)
    touch(test)
    session.flush()
    return compute(session, test).results


def _locked(session: Session, test_id: int) -> ABTest:
    """The test row, locked against other deciders (PostgreSQL ``FOR NO KEY UPDATE``, which leaves
    the ``FOR KEY SHARE`` of an outcome post's foreign-key check free; see
    ``monitoring.evaluate.lock_monitor``)."""
    q = select(ABTest).where(ABTest.id == test_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(key_share=True)
    return session.scalars(q).one()


def _decided(session: Session, model: RegisteredModel, test: ABTest, state: str, arm: str | None,
             dec: dict[str, Any] | None) -> None:  # fmt: skip
    publish(
        session,
        ev.ABTestDecided(
            actor=None, actor_name="tether-abtests", model_id=model.id, model=model.name, ab_test_id=test.id,
            name=test.name, state=state, arm=arm, version=(dec or {}).get("version"),
            effect=(dec or {}).get("effect"), interval=[(dec or {}).get("lower"), (dec or {}).get("upper")],
            transition_id=test.transition_id, recommendation=test.recommendation,
        ),
    )  # fmt: skip


def _invalidate(session: Session, model: RegisteredModel, test: ABTest, srm: dict[str, Any]) -> None:
    test.srm, test.state, test.decided_at = srm, "invalid", now_ms()
    planned = ", ".join(f"{a['name']} {s:.1%}" for a, s in zip(test.arms, test.traffic, strict=True))
    total = sum(srm["observed"]) or 1
    seen = ", ".join(f"{a['name']} {n / total:.1%}" for a, n in zip(test.arms, srm["observed"], strict=True))
    alerts.open_or_update(
        session, kind="abtest", model_id=model.id, ab_test_id=test.id, rule="srm", severity="alert",
        message=f"A/B test {test.name!r}: sample ratio mismatch (planned {planned}; observed {seen}; "
        f"p = {srm['p_value']:.2g}). The assignment is broken; no result of this test can be trusted.",
        details={"ab_test_id": test.id, **srm},
    )  # fmt: skip
    _decided(session, model, test, "invalid", None, None)
    stop(session, None, model, test, "srm")


def _record(session: Session, model: RegisteredModel, test: ABTest, arm: str, dec: dict[str, Any]) -> None:
    test.decisions = {**(test.decisions or {}), arm: dec}
    if dec["stop"]:
        rule = dec["reason"]
        what = (f"broke the guardrail on {', '.join(dec['broken'])}" if rule == "guardrail"
                else f"is worse than control on {test.metric}")  # fmt: skip
        alerts.open_or_update(
            session, kind="abtest", model_id=model.id, ab_test_id=test.id, rule=rule, column=arm, severity="alert",
            message=f"A/B test {test.name!r}: treatment {arm!r} (version {dec.get('version')}) {what}; "
            "its traffic should go back to control.",
            details={"ab_test_id": test.id, "arm": arm, **{k: v for k, v in dec.items() if k != "guardrails"}},
        )  # fmt: skip
        publish(
            session,
            ev.ABTestStopped(actor=None, actor_name="tether-abtests", model_id=model.id, model=model.name,
                             ab_test_id=test.id, name=test.name, reason=rule, arm=arm),
        )  # fmt: skip
        return
    if test.state != "running":
        return  # a winner was already declared: the first one is kept
    test.state, test.decided_at = "treatment_better", now_ms()
    _promote(session, model, test, arm, dec)
    _decided(session, model, test, "treatment_better", arm, dec)


def _close_if_all_lost(session: Session, model: RegisteredModel, test: ABTest) -> None:
    names = [a["name"] for a in test.arms[1:]]
    decs = test.decisions or {}
    if test.state == "running" and all(decs.get(n, {}).get("stop") for n in names):
        test.state, test.decided_at = "treatment_worse", now_ms()
        test.status, test.stopped_at = "stopped", now_ms()
        last = decs[names[-1]]
        _decided(session, model, test, "treatment_worse", names[-1] if len(names) == 1 else None, last)


def _creator(session: Session, test: ABTest) -> Principal | None:
    user = session.get(User, test.created_by) if test.created_by else None
    if user is None or not user.active:
        return None
    return Principal(id=user.id, name=user.name, role=user.role, via="local")


def _promote(session: Session, model: RegisteredModel, test: ABTest, arm: str, dec: dict[str, Any]) -> None:
    control = test.arms[0]
    evidence = explain.evidence(test, arm, dec)
    if control["kind"] != "stage":
        test.recommendation = (f"Move alias {control['ref']!r} to version {dec['version']} ({arm}). "
                               f"{evidence} Aliases have no review path, so Tether only recommends.")  # fmt: skip
        return
    if test.transition_id is not None:
        return
    actor = _creator(session, test)
    comment = f"Opened by Tether from A/B test #{test.id} {test.name!r}. {evidence}"
    if actor is None:
        test.recommendation = (
            f"Request moving version {dec['version']} to {control['ref']}: {evidence} "
            "(the test's creator is no longer active, so no request was opened)."
        )
        return
    try:
        # every refusal (no EDIT any more, already pending, already in the stage) is raised before it writes
        req = transitions.request_transition(
            session, actor, model.name, int(dec["version"]), control["ref"], comment=comment, min_approvals=1
        )
    except TetherError as exc:  # no EDIT any more, already pending, already in the stage, ...
        test.recommendation = f"Move version {dec['version']} to {control['ref']}. {evidence} " \
                              f"(no request was opened: {exc})"  # fmt: skip
        return
    test.transition_id = req.id
    test.recommendation = (
        f"Review transition request #{req.id}: version {dec['version']} to {control['ref']}."
    )
