"""The model card: JSON and Markdown carry the datasets, metrics, explanation and approvals; the
person-written part is editable and audited."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.explain.helpers import new_reviewer, promote, put_version
from tests.registry.helpers import create_model, register, training_run
from tether_server.runtime import Runtime


def _profile_dataset(app, run_id: str) -> None:
    from tether_server.models import Dataset, DatasetVersion, RunInput

    profile = {
        "format": "tether.profile/1",
        "rows": 1200,
        "columns": {
            "age": {
                "kind": "numeric",
                "type": "int",
                "count": 1190,
                "nulls": 10,
                "mean": 41.5,
                "m2": 1.0,
                "min": 18,
                "max": 90,
            },
            "region": {
                "kind": "categorical",
                "type": "string",
                "count": 1200,
                "nulls": 0,
                "top": [["north", 700], ["south", 500]],
                "other": 0,
            },
        },
    }
    with Runtime.of(app).database.session() as s:
        ds = Dataset(name="churn-2026|q3")  # a pipe must not break the Markdown table
        s.add(ds)
        s.flush()
        dv = DatasetVersion(
            dataset_id=ds.id, root_hash="ef" * 32, file_count=3, total_bytes=10, manifest=[], profile=profile
        )
        s.add(dv)
        s.flush()
        s.add(RunInput(run_id=run_id, dataset_version_id=dv.id, context="training"))
        s.commit()


def test_card_json_and_markdown(app, client, auth, users, backend):
    rid = training_run(client, auth)
    _profile_dataset(app, rid)
    model = create_model(client, auth)
    register(client, auth, "churn", rid)
    put_version(client, auth, "churn", 1, {"importances": {"age": 0.7, "region": 0.2}, "method": "shap"})
    r = client.put(
        "/api/v1/models/churn/versions/1/card",
        json={
            "intended_use": "Rank existing customers by churn risk for retention calls.",
            "limitations": "Not for new customers (< 3 months).",
        },
        headers=auth,
    )
    assert r.status_code == 200 and r.json["limitations"].startswith("Not for new")
    rev = new_reviewer(client, auth, users, model["id"])
    promote(client, auth, rev, "churn", 1)

    card = client.get("/api/v1/models/churn/versions/1/card", headers=auth).json
    assert card["format"] == "tether.model_card/1" and card["version"]["stage"] == "Production"
    ds = card["training_data"][0]
    assert (ds["name"], ds["hash"], ds["profile"]["rows"], ds["profile"]["columns"]) == (
        "churn-2026|q3",
        "ef" * 32,
        1200,
        2,
    )
    assert ds["profile"]["column_summaries"][1]["top"] == ["north", "south"]
    assert card["metrics"]["auc"] == 0.91
    assert [t["feature"] for t in card["explanation"]["top_features"]] == ["age", "region"]
    actions = [h["action"] for h in card["approval_history"]]
    assert actions[0] == "version_created" and "transition_approved" in actions and "card_updated" in actions
    approved = next(h for h in card["approval_history"] if h["action"] == "transition_approved")
    assert approved["actor"] == "rita"
    mon = card["monitoring"]  # in Production, but nobody set up a monitor
    assert (mon["status"], mon["monitors"], mon["open_alerts"]) == ("not_monitored", [], [])
    assert card["open_questions"] == []

    r = client.get("/api/v1/models/churn/versions/1/card?format=md", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/markdown"
    assert "attachment" in r.headers["Content-Disposition"]
    md = r.get_data(as_text=True)
    assert "# Model card: churn version 1" in md
    assert "| churn-2026\\|q3 | training | " + "ef" * 32 + " | 3 | 1200 | 2 |" in md
    assert "| auc | 0.91 |" in md
    assert "| 1 | age | 0.7 |" in md
    assert "transition approved | rita | Staging" not in md  # it came from None
    assert "| transition approved | rita | None | Production | ok v1 |" in md
    assert "Rank existing customers by churn risk" in md


def test_card_lists_open_questions_and_validates_text(client, auth, backend):
    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    card = client.get("/api/v1/models/churn/versions/1/card?format=json", headers=auth).json
    qs = " ".join(card["open_questions"])
    for phrase in ("intended use", "limitations", "No training dataset", "No explanation", "No reviewer"):
        assert phrase in qs
    assert "_Not written yet._" in client.get(
        "/api/v1/models/churn/versions/1/card?format=md", headers=auth
    ).get_data(as_text=True)
    assert_error(
        client.put("/api/v1/models/churn/versions/1/card", json={}, headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        client.put("/api/v1/models/churn/versions/1/card", json={"intended_use": "x" * 20_001}, headers=auth),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(
        client.get("/api/v1/models/churn/versions/1/card?format=pdf", headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert_error(client.get("/api/v1/models/churn/versions/9/card", headers=auth), 404, "NOT_FOUND")


def test_card_monitoring_comes_from_the_real_monitors_and_alerts(app, client, auth, admin_token, backend):
    """A monitor on Production, one drifted window evaluated: the card of the live version says
    'alert' with the monitor's latest window and the real alert; a newer version that is not live
    says so and is not blamed for the live version's alerts."""
    import numpy as np

    from tests.monitoring.helpers import HOUR, T0, create_monitor, production_model, production_rows
    from tests.monitoring.test_api import _evaluate

    production_model(app, client, auth)
    put_version(
        client,
        auth,
        "churn",
        1,
        {"importances": {"age": 0.9, "income": 0.05, "plan": 0.05}, "method": "permutation"},
    )
    m = create_monitor(client, auth)
    rows = production_rows(np.random.default_rng(2), 1000, shift=1.0, ts=T0)
    assert (
        client.post(f"/api/v1/monitors/{m['id']}/rows", headers=auth, json={"rows": rows}).status_code == 200
    )
    _evaluate(app, T0 + 2 * HOUR)
    real = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    assert {a["rule"] for a in real} >= {"drift", "dataset_drift_weighted"}

    mon = client.get("/api/v1/models/churn/versions/1/card", headers=auth).json["monitoring"]
    assert mon["status"] == "alert" and mon["version_in_production"] is True
    (mj,) = mon["monitors"]
    assert (mj["id"], mj["name"], mj["follows"], mj["live_version"], mj["watches_this_version"]) == (
        m["id"],
        "prod",
        "stage Production",
        1,
        True,
    )
    w = mj["latest_window"]
    assert (w["window_start"], w["model_version"], w["dataset_drift"], w["drifted_columns"]) == (
        T0,
        1,
        "alert",
        ["age"],
    )
    assert w["weighted_share"] == pytest.approx(0.9)
    assert sorted(a["id"] for a in mon["open_alerts"]) == sorted(a["id"] for a in real)
    assert all(a["model_version"] == 1 for a in mon["open_alerts"])

    md = client.get("/api/v1/models/churn/versions/1/card?format=md", headers=auth).get_data(as_text=True)
    assert "**Status: alert.**" in md
    assert (
        "| prod | stage Production | 1 | yes | 2026-01-01 00:00 UTC (v1) | alert (33% of columns drifted, 90% of importance) |"
        in md
    )
    drift_alert = next(a for a in real if a["rule"] == "drift")
    assert f"| drift | age | alert | open | 1 | {drift_alert['message']} |" in md

    # acknowledged alerts are still unresolved: the card keeps them
    admin = {"Authorization": f"Bearer {admin_token}"}
    r = client.post(
        f"/api/v1/alerts/{drift_alert['id']}/acknowledge", headers=admin, json={"comment": "looking"}
    )
    assert r.status_code == 200, r.json
    got = client.get("/api/v1/models/churn/versions/1/card", headers=auth).json["monitoring"]
    assert {a["status"] for a in got["open_alerts"]} == {"open", "acknowledged"}
    assert got["status"] == "alert"

    # a registered version that is not live: no monitor watches it, the live version's alerts are listed
    # for context but do not make its status 'alert'
    rid = training_run(client, auth, exp_name="train-v2")
    register(client, auth, "churn", rid)
    mon2 = client.get("/api/v1/models/churn/versions/2/card", headers=auth).json["monitoring"]
    assert mon2["status"] == "not_live" and mon2["version_in_production"] is False
    assert mon2["monitors"][0]["watches_this_version"] is False and mon2["monitors"][0]["live_version"] == 1
    md2 = client.get("/api/v1/models/churn/versions/2/card?format=md", headers=auth).get_data(as_text=True)
    assert "**Status: not live.**" in md2
