"""A/B tests over REST on SQLite and PostgreSQL: the create/list/get/stop flow, 4xx JSON on bad input,
sticky assignment (REST = documented algorithm), idempotent outcomes, and the decisions: a winner
opens exactly one reviewed transition request, a loser an alert and ``abtest.stopped``, SRM invalidates."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tests.abtests.helpers import mean_windows, new_test, post, proportion_windows
from tests.api.helpers import assert_error
from tests.conftest import bearer


def _results(client: Any, headers: dict[str, str], tid: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/ab-tests/{tid}/results", headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def _audit(client: Any, admin: dict[str, str], action: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/audit?action={action}", headers=admin)
    assert r.status_code == 200, r.json
    return r.json["items"]


def _pending(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/v1/transition-requests?status=pending", headers=headers)
    assert r.status_code == 200
    return r.json["items"]


def _alerts(app: Any, test_id: int) -> list[Any]:
    """The test's alerts, stored by the shared alerts service (kind "abtest")."""
    from tether_server.models.monitoring import Alert
    from tether_server.runtime import Runtime

    with Runtime.of(app).database.session(write=False) as s:
        found = list(s.scalars(select(Alert).where(Alert.ab_test_id == test_id)))
    assert all(a.kind == "abtest" and a.monitor_id is None for a in found)
    return found


def test_flow_create_list_get_patch(client: Any, auth: dict[str, str], model: Any, admin_token: str) -> None:
    t = new_test(client, auth, guardrails=[{"metric": "latency_ms", "direction": "lower", "margin": 5}])
    assert t["status"] == "running" and t["state"] == "running" and isinstance(t["id"], int)
    assert [(a["name"], a["version"]) for a in t["arms"]] == [("control", 1), ("challenger", 2)]
    draft = new_test(client, auth, name="later", draft=True)
    assert draft["status"] == "draft"
    items = client.get("/api/v1/ab-tests?model=churn", headers=auth).json["items"]
    assert {i["id"] for i in items} == {t["id"], draft["id"]}
    assert client.get(f"/api/v1/ab-tests/{t['id']}", headers=auth).json["name"] == "ctr"
    r = client.patch(f"/api/v1/ab-tests/{draft['id']}", headers=auth, json={"status": "running"})
    assert r.status_code == 200 and r.json["status"] == "running" and r.json["started_at"]
    r = client.patch(f"/api/v1/ab-tests/{t['id']}", headers=auth, json={"status": "stopped"})
    assert r.json["status"] == "stopped" and r.json["state"] == "inconclusive"
    assert_error(client.patch(f"/api/v1/ab-tests/{t['id']}", headers=auth, json={"status": "running"}),
                 409, "FAILED_PRECONDITION")  # fmt: skip
    admin = bearer(admin_token)
    assert len(_audit(client, admin, "abtest.started")) == 2
    stopped = _audit(client, admin, "abtest.stopped")
    assert [e["details"]["reason"] for e in stopped] == ["manual"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric_type": "median"}, "metric_type"),
        ({"traffic": [0.5]}, "traffic"),
        ({"traffic": [1, -1]}, "traffic"),
        ({"treatments": []}, "treatments"),
        ({"treatments": ["Production"]}, "treatments[0]"),
        ({"control": 3}, "control"),
        ({"alpha": 0.9}, "alpha"),
        ({"direction": "up"}, "direction"),
        ({"min_units": 0}, "min_units"),
        ({"guardrails": [{"metric": "x", "direction": "lower", "margin": -1}]}, "guardrails[0].margin"),
        ({"name": ""}, "name"),
        ({"metric": "a b"}, "metric"),
    ],
)
def test_bad_create_is_400(
    client: Any, auth: dict[str, str], model: Any, change: dict[str, Any], field: str
) -> None:
    body = {"model": "churn", "name": "x", "control": "Production", "treatments": ["challenger"],
            "metric": "conversion", "metric_type": "proportion", **change}  # fmt: skip
    err = assert_error(client.post("/api/v1/ab-tests", headers=auth, json=body), 400, "INVALID_ARGUMENT")
    assert err["details"]["field"] == field


def test_other_4xx(client: Any, auth: dict[str, str], model: Any, users: Any) -> None:
    t = new_test(client, auth)
    assert_error(client.post("/api/v1/ab-tests", headers=auth, data=b"{nope", content_type="application/json"),
                 400, "INVALID_ARGUMENT")  # fmt: skip
    assert_error(
        client.post("/api/v1/ab-tests", headers=auth, json={**_body(), "name": "ctr"}), 409, "ALREADY_EXISTS"
    )
    assert_error(client.post("/api/v1/ab-tests", headers=auth, json={**_body(), "treatments": ["ghost"]}),
                 409, "FAILED_PRECONDITION")  # fmt: skip
    assert_error(client.get("/api/v1/ab-tests/999999", headers=auth), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/v1/ab-tests/{t['id']}/assign", headers=auth), 400, "INVALID_ARGUMENT")
    assert_error(client.patch(f"/api/v1/ab-tests/{t['id']}", headers=auth, json={"status": "paused"}),
                 400, "INVALID_ARGUMENT")  # fmt: skip
    for bad in ({}, {"windows": [{"arm": "nope", "n": 1, "successes": 0, "window_start": 0}]},
                {"windows": [{"arm": "control", "n": 1, "successes": 2, "window_start": 0}]},
                {"windows": [{"arm": "control", "metric": "other", "n": 1, "successes": 0, "window_start": 0}]},
                {"rows": [{"unit": "", "value": 1}]}, {"rows": [{"unit": "u", "value": "NaN"}]},
                {"rows": "x"}):  # fmt: skip
        assert_error(post(client, auth, t["id"], bad), 400, "INVALID_ARGUMENT")
    # another writer without a grant: the test is invisible (404) and cannot be posted to
    other = bearer(users.create("otto", "writer")[1])
    assert_error(client.get(f"/api/v1/ab-tests/{t['id']}", headers=other), 404, "NOT_FOUND")
    assert_error(post(client, other, t["id"], {"rows": [{"unit": "u", "value": 1}]}), 404, "NOT_FOUND")


def _body() -> dict[str, Any]:
    return {"model": "churn", "name": "y", "control": "Production", "treatments": ["challenger"],
            "metric": "conversion", "metric_type": "proportion"}  # fmt: skip


def _documented(test_id: int, unit: str, traffic: list[float]) -> int:
    """The docstring's algorithm, written again from its text (not calling the implementation)."""
    h = int.from_bytes(hashlib.sha256(f"{test_id}:{unit}".encode()).digest()[:8], "big")
    u = (h >> 11) / 2.0**53
    total, acc, bounds = 0.0, 0.0, []
    for s in traffic:
        total = total + s
    for s in traffic:
        acc = acc + s
        bounds.append(acc / total)
    bounds[-1] = 1.0
    return next(i for i, c in enumerate(bounds) if u < c)


def test_assignment_rest_matches_documented_algorithm(client: Any, auth: dict[str, str], model: Any) -> None:
    from tether.abtest import assign

    t = new_test(client, auth, traffic=[0.9, 0.1])
    names = [a["name"] for a in t["arms"]]
    for unit in [f"user-{i}" for i in range(200)] + ["ünïcode", "0", "a:b"]:
        r = client.get(f"/api/v1/ab-tests/{t['id']}/assign", headers=auth, query_string={"unit": unit})
        assert r.status_code == 200
        want = _documented(t["id"], unit, t["traffic"])
        assert r.json["arm"] == names[want] == names[assign(t["id"], unit, t["traffic"])]
        assert r.json["version"] == t["arms"][want]["version"]


def test_windows_are_idempotent_and_replace(client: Any, auth: dict[str, str], model: Any) -> None:
    t = new_test(client, auth)
    w = [{"arm": "control", "window_start": 1000, "n": 100, "successes": 10},
         {"arm": "challenger", "window_start": 1000, "n": 110, "successes": 12}]  # fmt: skip
    for _ in range(3):
        assert post(client, auth, t["id"], {"windows": w}).status_code == 200
    arms = _results(client, auth, t["id"])["arms"]
    assert [(a["n"], a["events"]) for a in arms] == [(100, 10), (110, 12)]
    w[0]["successes"] = 11  # a corrected re-post replaces the window
    post(client, auth, t["id"], {"windows": w[:1]})
    post(client, auth, t["id"], {"windows": [{**w[0], "source": "replica-2"}]})  # another source adds
    arms = _results(client, auth, t["id"])["arms"]
    assert [(a["n"], a["events"]) for a in arms] == [(200, 22), (110, 12)]


def test_raw_rows_recompute_the_arm_and_sum_per_unit(client: Any, auth: dict[str, str], model: Any) -> None:
    from tether.abtest import assign

    t = new_test(client, auth, metric="revenue", metric_type="mean", traffic=[0.5, 0.5])
    units = [f"u{i}" for i in range(40)]
    rows = [{"unit": u, "value": 1.5} for u in units] + [{"unit": u, "value": 2.0} for u in units[:10]]
    key = {"Idempotency-Key": "batch-1"}
    for _ in range(2):  # the retry replays, it does not add again
        r = client.post(f"/api/v1/ab-tests/{t['id']}/outcomes", headers={**auth, **key}, json={"rows": rows})
        assert r.status_code == 200 and r.json["accepted"]["rows"] == 50
    arms = _results(client, auth, t["id"])["arms"]
    by_arm = [[u for u in units if assign(t["id"], u, t["traffic"]) == i] for i in (0, 1)]
    for i in (0, 1):
        values = [3.5 if u in units[:10] else 1.5 for u in by_arm[i]]
        assert arms[i]["n"] == len(values)
        assert arms[i]["mean"] == pytest.approx(np.mean(values))


def _win(client: Any, auth: dict[str, str], tid: int, seed: int = 1, looks: int = 4) -> None:
    rng = np.random.default_rng(seed)
    for k in range(looks):  # 4 looks of 5,000 units per arm: 10% vs 13%
        post(
            client,
            auth,
            tid,
            {
                "windows": proportion_windows(
                    rng, [5000, 5000], [0.10, 0.13], ["control", "challenger"], 3_600_000 * k
                )
            },
        )


def test_winner_opens_exactly_one_reviewed_request(
    client: Any, app: Any, auth: dict[str, str], model: Any, reviewer: Any, writer: Any, admin_token: str
) -> None:
    from tether_server.runtime import Runtime
    from tether_server.workers.abtests import evaluate_all

    t = new_test(client, auth)
    _win(client, auth, t["id"])
    res = _results(client, auth, t["id"])
    assert res["state"] == "treatment_better", res["arms"][1]
    arm = res["arms"][1]
    assert arm["lower"] > 0 and arm["decision"]["state"] == "treatment_better"
    for _ in range(3):  # more looks, the worker's pass, more data: still one request
        _results(client, auth, t["id"])
        evaluate_all(Runtime.of(app).database)
    _win(client, auth, t["id"], seed=2, looks=2)
    _results(client, auth, t["id"])
    pending = _pending(client, auth)
    assert len(pending) == 1
    req = pending[0]
    assert (req["version"], req["to_stage"], req["requested_by"]) == (2, "Production", "wendy")
    assert req["required_approvals"] >= 1 and "Evidence" in req["comment"] and "interval" in req["comment"]
    assert client.get(f"/api/v1/ab-tests/{t['id']}", headers=auth).json["transition_id"] == req["id"]
    # four eyes: the test's creator cannot approve; a reviewer can, and only then the stage moves
    assert client.get("/api/v1/models/churn/versions/2", headers=auth).json["stage"] != "Production"
    assert_error(client.post(f"/api/v1/transition-requests/{req['id']}/approve", headers=auth,
                             json={"comment": "mine"}), 403, "PERMISSION_DENIED")  # fmt: skip
    r = client.post(
        f"/api/v1/transition-requests/{req['id']}/approve", headers=reviewer[1], json={"comment": "ok"}
    )
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert client.get("/api/v1/models/churn/versions/2", headers=auth).json["stage"] == "Production"
    decided = _audit(client, bearer(admin_token), "abtest.decided")
    assert [(e["details"]["state"], e["details"]["transition_id"]) for e in decided] == [
        ("treatment_better", req["id"])
    ]


def test_winner_needs_a_reviewer_even_when_the_policy_needs_none(
    client: Any, auth: dict[str, str], model: Any
) -> None:
    r = client.put(
        "/api/v1/models/churn/policy", headers=auth, json={"required_approvals": {"Production": 0}}
    )
    assert r.status_code == 200, r.json
    t = new_test(client, auth)
    _win(client, auth, t["id"])
    assert _results(client, auth, t["id"])["state"] == "treatment_better"
    (req,) = _pending(client, auth)
    assert req["required_approvals"] == 1 and req["status"] == "pending"


def test_alias_control_only_recommends(
    client: Any, auth: dict[str, str], model: Any, admin_token: str
) -> None:
    r = client.put("/api/v1/models/churn/aliases/champion", headers=auth, json={"version": 1})
    assert r.status_code in (200, 201)
    t = new_test(client, auth, control="champion")
    _win(client, auth, t["id"])
    res = _results(client, auth, t["id"])
    assert res["state"] == "treatment_better" and res["transition_id"] is None
    assert "champion" in res["recommendation"] and "version 2" in res["recommendation"]
    assert _pending(client, auth) == []
    assert len(_audit(client, bearer(admin_token), "abtest.decided")) == 1


def test_loser_opens_an_alert_and_stops(client: Any, app: Any, auth: dict[str, str], model: Any,
                                        admin_token: str) -> None:  # fmt: skip
    t = new_test(client, auth)
    rng = np.random.default_rng(3)
    for k in range(4):
        post(
            client,
            auth,
            t["id"],
            {
                "windows": proportion_windows(
                    rng, [5000, 5000], [0.13, 0.10], ["control", "challenger"], 3_600_000 * k
                )
            },
        )
    res = _results(client, auth, t["id"])
    assert (res["state"], res["status"]) == ("treatment_worse", "stopped")
    assert _pending(client, auth) == []
    stopped = _audit(client, bearer(admin_token), "abtest.stopped")
    assert [(e["details"]["reason"], e["details"]["arm"]) for e in stopped] == [
        ("treatment_worse", "challenger")
    ]
    # a stopped arm is served the control
    r = client.get(f"/api/v1/ab-tests/{t['id']}/assign", headers=auth, query_string={"unit": "anyone"})
    assert r.json["arm"] == "control"
    (alert,) = _alerts(app, t["id"])
    assert (alert.kind, alert.rule, alert.status) == ("abtest", "treatment_worse", "open")
    assert alert.column == "challenger" and "challenger" in alert.message
    listed = client.get(f"/api/v1/alerts?ab_test={t['id']}", headers=auth).json["items"]
    assert [(a["id"], a["kind"], a["severity"]) for a in listed] == [(alert.id, "abtest", "alert")]
    opened = _audit(client, bearer(admin_token), "alert.opened")
    assert [e["details"]["id"] for e in opened] == [alert.id]  # published once, through publish()


def test_guardrail_violation_stops_the_winner(
    client: Any, app: Any, auth: dict[str, str], model: Any
) -> None:
    t = new_test(client, auth, guardrails=[{"metric": "latency_ms", "direction": "lower", "margin": 1.0}])
    rng = np.random.default_rng(4)
    for k in range(4):
        ws = proportion_windows(rng, [5000, 5000], [0.10, 0.13], ["control", "challenger"], 3_600_000 * k)
        ws += mean_windows(
            rng, [5000, 5000], [100.0, 104.0], ["control", "challenger"], "latency_ms", 3_600_000 * k
        )
        post(client, auth, t["id"], {"windows": ws})
    res = _results(client, auth, t["id"])
    assert res["state"] == "treatment_worse" and _pending(client, auth) == []
    g = res["arms"][1]["guardrails"][0]
    assert g["violated"] and g["lower"] > 1.0
    assert res["arms"][1]["decision"]["reason"] == "guardrail"
    assert [a.rule for a in _alerts(app, t["id"])] == ["guardrail"]


def test_srm_invalidates(client: Any, app: Any, auth: dict[str, str], model: Any, admin_token: str) -> None:
    t = new_test(client, auth)
    w = [{"arm": "control", "window_start": 0, "n": 51_000, "successes": 5_100},
         {"arm": "challenger", "window_start": 0, "n": 49_000, "successes": 6_400}]  # fmt: skip
    post(client, auth, t["id"], {"windows": w})
    res = _results(client, auth, t["id"])
    assert (res["state"], res["status"]) == ("invalid", "stopped")
    assert res["srm"]["flagged"] and res["srm"]["p_value"] < 0.001 and "mismatch" in res["srm"]["explain"]
    assert _pending(client, auth) == []  # a big "win" on a broken split is not acted on
    decided = _audit(client, bearer(admin_token), "abtest.decided")
    assert [e["details"]["state"] for e in decided] == ["invalid"]
    assert [a.rule for a in _alerts(app, t["id"])] == ["srm"]


def test_results_explain_every_number(client: Any, auth: dict[str, str], model: Any) -> None:
    t = new_test(client, auth, guardrails=[{"metric": "latency_ms", "direction": "lower", "margin": 5}])
    rng = np.random.default_rng(5)
    post(
        client,
        auth,
        t["id"],
        {"windows": proportion_windows(rng, [300, 300], [0.1, 0.1], ["control", "challenger"])},
    )
    res = _results(client, auth, t["id"])
    assert res["state"] == "running" and "1,000 units" in res["explain"]
    treat = res["arms"][1]
    assert set(treat["explain"]) >= {"n", "mean", "effect", "interval", "state"}
    assert all(isinstance(s, str) and s.endswith(".") for s in treat["explain"].values() if s)
    assert "waiting" in treat["explain"]["state"] and treat["guardrails"][0]["explain"]
    assert res["history"] and res["history"][-1]["arms"]["challenger"]["n"] == 300
