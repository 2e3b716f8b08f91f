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
    assert card["monitoring"] is None
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


def test_card_monitoring_uses_the_alerts_contract(app, client, auth, monkeypatch, backend):
    """Until services.monitoring lands on main, check the card against its documented contract
    (``list_alerts(session, actor, *, status, model, max_results) -> (alerts, next)``)."""
    import importlib.machinery
    import importlib.util
    import sys
    import types

    import tether_server.services as services_pkg

    if importlib.util.find_spec("tether_server.services.monitoring") is not None:
        pytest.skip("the real monitoring services are installed: covered by their integration test")
    calls = []

    def list_alerts(session, actor, *, status=None, model=None, max_results=100, **kw):
        calls.append((actor.name, status, model))
        alert = types.SimpleNamespace(
            rule="drift",
            column="age",
            severity="alert",
            status=status,
            message="age drifted (PSI 0.4)",
            opened_at=1,
        )
        return ([alert] if status == "open" else []), None

    fake = types.ModuleType("tether_server.services.monitoring")
    fake.__spec__ = importlib.machinery.ModuleSpec("tether_server.services.monitoring", None)
    fake.list_alerts = list_alerts
    monkeypatch.setitem(sys.modules, "tether_server.services.monitoring", fake)
    monkeypatch.setattr(services_pkg, "monitoring", fake, raising=False)

    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    card = client.get("/api/v1/models/churn/versions/1/card", headers=auth).json
    assert card["monitoring"]["open_alerts"][0]["message"] == "age drifted (PSI 0.4)"
    assert card["monitoring"]["version_in_production"] is False
    assert {c[1] for c in calls} == {"open", "acknowledged"} and all(c[2] == "churn" for c in calls)
    md = client.get("/api/v1/models/churn/versions/1/card?format=md", headers=auth).get_data(as_text=True)
    assert "| drift | age | alert | age drifted (PSI 0.4) |" in md
