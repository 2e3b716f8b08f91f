"""One plain sentence per number on an A/B test's page (and the evidence text of the transition
request a winning test opens)."""

from __future__ import annotations

from typing import Any

from ...models.abtests import ABTest
from ...stats.sequential import ArmStats


def _v(test: ABTest, x: float | None, metric_type: str | None = None, diff: bool = False) -> str:
    if x is None:
        return "not yet known"
    if (metric_type or test.metric_type) == "proportion":
        return f"{x * 100:+.2f} points" if diff else f"{x:.2%}"
    return f"{x:+.4g}" if diff else f"{x:.4g}"


def control(test: ABTest, row: dict[str, Any]) -> dict[str, str]:
    return {
        "n": f"{row['n']:,} units were served the control ({row['ref']}, version {row['version']}) and reported "
        f"{test.metric}.",
        "mean": f"The control's average {test.metric} is {_v(test, row['mean'])}; treatments are compared to it.",
    }


def treatment(test: ABTest, row: dict[str, Any], ctl: ArmStats) -> dict[str, str]:
    level = 1 - row["alpha"]
    better = "higher" if test.direction == "higher" else "lower"
    out = {
        "n": f"{row['n']:,} units were served {row['name']} (version {row['version']}) and reported {test.metric}.",
        "mean": f"Their average {test.metric} is {_v(test, row['mean'])}.",
        "effect": f"{row['name']} minus control is {_v(test, row['effect'], diff=True)} on {test.metric} "
        f"({better} is better).",
        "interval": (
            f"With {level:.1%} confidence that stays valid however often anyone looks, the true difference is "
            f"between {_v(test, row['lower'], diff=True)} and {_v(test, row['upper'], diff=True)}; a decision "
            "needs this range to exclude 0."
            if row["lower"] is not None
            else "The interval needs at least 2 units in each arm."
        ),
        "p_value": f"The always-valid p-value of 'no difference' is {row['p_value']:.3g}; below {row['alpha']:.3g} "
        "the test decides."
        if row["p_value"] is not None
        else "",
    }
    out["state"] = {
        "treatment_better": f"{row['name']} is better than control on {test.metric}, with every guardrail holding.",
        "treatment_worse": f"{row['name']} was stopped: it is worse than control or broke a guardrail.",
        "invalid": "The split of units does not match the plan, so this comparison cannot be trusted.",
        "inconclusive": "The test stopped before the interval excluded 0: no difference was shown.",
        "running": f"No decision yet: {row['reason']}.",
    }[row["state"]]
    return out


def guardrail(test: ABTest, arm: str, g: dict[str, Any]) -> str:
    worse = "lower" if g["direction"] == "higher" else "higher"
    margin = _v(test, g["margin"], g["metric_type"], diff=True) if g["margin"] else "0"
    if g["violated"]:
        return (f"{arm} breaks the guardrail: {g['metric']} is shown to be {worse} than control by more than "
                f"{margin}.")  # fmt: skip
    if not g["enough_data"]:
        return f"Guardrail on {g['metric']}: waiting for the minimum sample before it can be checked."
    return (f"{g['metric']} is not shown to be {worse} than control by more than {margin} "
            f"(difference between {_v(test, g['lower'], g['metric_type'], True)} and "
            f"{_v(test, g['upper'], g['metric_type'], True)}).")  # fmt: skip


def srm(s: dict[str, Any]) -> str:
    seen = "/".join(f"{x:.1%}" for x in s["observed_shares"])
    plan = "/".join(f"{x:.1%}" for x in s["planned_shares"])
    if s["flagged"]:
        return (
            f"Sample ratio mismatch: units split {seen} against a planned {plan} (always-valid p = "
            f"{s['p_value']:.2g} < {s['threshold']}); the assignment is broken and no result can be trusted."
        )
    return (
        f"Units split {seen} against a planned {plan}; that is consistent with the plan (always-valid p = "
        f"{s['p_value']:.2g}; below {s['threshold']} would mean the assignment is broken)."
    )


def state(test: ABTest) -> str:
    return {
        "running": "The test is collecting data; it decides the first time an interval excludes 0 "
        f"with at least {test.min_units:,} units and {test.min_events} events per arm.",
        "treatment_better": "A treatment won; " + (test.recommendation or "see the recommendation."),
        "treatment_worse": "Every treatment lost or broke a guardrail; traffic should go back to control.",
        "inconclusive": "The test was stopped without a result.",
        "invalid": "The test is invalid: the observed split does not match the plan (sample ratio mismatch).",
    }[test.state]


def evidence(test: ABTest, arm: str, dec: dict[str, Any]) -> str:
    level = 1 - dec["alpha"]
    guards = "; ".join(
        f"{g['metric']} not worse than {g['margin']:g} (interval {_v(test, g['lower'], g['metric_type'], True)} "
        f"to {_v(test, g['upper'], g['metric_type'], True)})"
        for g in dec.get("guardrails") or []
    )
    return (
        f"Evidence: {arm} (version {dec['version']}) vs control on {test.metric}: effect "
        f"{_v(test, dec['effect'], diff=True)}, always-valid {level:.1%} interval {_v(test, dec['lower'], diff=True)} "
        f"to {_v(test, dec['upper'], diff=True)}, {dec['n'][1]:,} vs {dec['n'][0]:,} units (means "
        f"{_v(test, dec['means'][1])} vs {_v(test, dec['means'][0])}); guardrails: {guards or 'none'}."
    )
