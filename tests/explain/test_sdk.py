"""The SDK against a live server: run.log_explanation → registration → client.models, the card,
and the review comparison through get_request."""

from __future__ import annotations

import pytest

import tether
from tests.explain.helpers import new_reviewer, promote
from tests.registry.helpers import FILES


def test_sdk_round_trip(client, auth, users, live_server, writer, tmp_path, backend):
    imp = {"age": 0.4, "income": 0.3, "tenure": 0.1}
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        sdk.experiments.create("explain-sdk")
        with tether.start_run(experiment="explain-sdk", name="fit", client=sdk) as r:
            for path, data in FILES.items():
                if path.startswith("model/"):
                    (tmp_path / path.replace("/", "_")).write_bytes(data)
                    r.log_artifact(tmp_path / path.replace("/", "_"), "model", progress=False)
            got = r.log_explanation(imp, method="permutation", dataset=("churn-data", "ab" * 32))
        assert isinstance(got, tether.types.Explanation) and got.dataset == {
            "name": "churn-data",
            "hash": "ab" * 32,
        }
        assert sdk.runs.get_explanation(r.id).importances == imp

        v = sdk.models.register(r.id, "model", "churn")
        e = sdk.models.get_explanation("churn", v.version)
        assert e.importances == imp and e.source_run_id == r.id and e.top_features[0]["feature"] == "age"
        assert sdk.models.get_version("churn", v.version).explanation_url.endswith("/explanation")

        sdk.models.set_explanation("churn", v.version, [("age", 0.1), ("income", 0.5)], method="shap")
        assert list(sdk.models.get_explanation("churn", v.version).importances) == ["income", "age"]
        with pytest.raises(tether.BadRequestError):
            sdk.models.set_explanation("churn", v.version, [("age", 0.1), ("age", 0.5)], method="shap")
        with pytest.raises(ValueError):
            sdk.models.set_explanation("churn", v.version, {"age": float("nan")}, method="shap")

        sdk.models.set_card(
            "churn", v.version, intended_use="Retention calls.", limitations="Not for pricing."
        )
        md = sdk.models.get_card("churn", v.version, format="md")
        assert "Retention calls." in md and "Not for pricing." in md
        assert sdk.models.get_card("churn", v.version)["intended_use"] == "Retention calls."
        model_id = sdk.models.get("churn").id
        v2 = sdk.models.register(r.id, "model", "churn")  # carries the run's explanation

    rev = new_reviewer(client, auth, users, model_id)
    promote(client, auth, rev, "churn", v.version)
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        req = sdk.models.request_transition("churn", v2.version, "Production", comment="new")
        cmp = sdk.models.get_request(req.id).explanation_comparison
        assert cmp["available"] is True
        assert cmp["candidate_top"][0]["feature"] == "age" and cmp["production_top"][0]["feature"] == "income"
        assert cmp["entered_top"] == ["tenure"] and cmp["top_overlap"] == pytest.approx(2 / 3)
