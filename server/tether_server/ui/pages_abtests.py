"""The A/B test page: planned vs observed shares with the SRM verdict, the effect with its
always-valid interval over time (a band that narrows as data comes in), guardrails, the transition
request a winner opened, and one plain sentence per number. JSON twin: the results plus the test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import context
from .._lazy import lazy_module
from ..access import access
from .common import page

if TYPE_CHECKING:  # the area loads on first use (tether_server._lazy)
    from ..services import abtests as svc
else:
    svc = lazy_module("tether_server.services.abtests")


@access("viewer")
def abtest_page(test_id: int) -> Any:
    s = context.db()
    test = svc.get_test(s, context.principal(), test_id)
    look = svc.compute(s, test)
    results = look.results
    if look.pending:  # a look that reaches a decision acts on it, as GET .../results does
        with context.separate(write=True) as unit_of_work:
            results = svc.evaluate(unit_of_work, test_id)
            test_json = svc.describe(
                unit_of_work, [svc.get_test(unit_of_work, context.principal(), test_id)]
            )[0]
    else:
        test_json = svc.describe(s, [test])[0]
    return page("abtest.html", {"test": test_json, "results": results})


def evidence_for(transition_id: int) -> dict[str, Any] | None:
    """The A/B test behind a transition request Tether opened (for the review page), if any."""
    from sqlalchemy import select

    from ..models.abtests import ABTest

    test = context.db().scalar(select(ABTest).where(ABTest.transition_id == transition_id))
    if test is None:
        return None
    arm, dec = next(((k, v) for k, v in (test.decisions or {}).items() if v.get("state") == "treatment_better"),
                    (None, None))  # fmt: skip
    if dec is None or arm is None:
        return None
    return {"id": test.id, "name": test.name, "metric": test.metric, "metric_type": test.metric_type,
            "arm": arm, "decision": dec, "text": svc.explain.evidence(test, arm, dec)}  # fmt: skip
