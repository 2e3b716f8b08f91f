"""Explanations through the API on SQLite and PostgreSQL: runs → versions, the Production rule,
bad input, the deployment link, the review comparison."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.explain.helpers import new_reviewer, promote, put_run, put_version
from tests.registry.helpers import add_dataset_input, create_model, register, request_stage, training_run

IMP = {"age": 0.4, "income": -0.3, "tenure": 0.2, "region": 0.05}


def test_run_explanation_is_copied_to_every_version(app, client, auth, backend):
    rid = training_run(client, auth)
    dv = add_dataset_input(app, rid, "churn-data", "cd" * 32)
    out = put_run(client, auth, rid, {"importances": IMP, "method": "permutation", "dataset": dv})
    assert out["dataset"] == {"dataset_version_id": dv, "name": "churn-data", "hash": "cd" * 32}
    assert [t["feature"] for t in out["top_features"]] == ["age", "income", "tenure", "region"]
    assert client.get(f"/api/v1/runs/{rid}/explanation", headers=auth).json["importances"] == IMP

    create_model(client, auth)
    register(client, auth, "churn", rid)
    register(client, auth, "churn", rid)
    for v in (1, 2):
        got = client.get(f"/api/v1/models/churn/versions/{v}/explanation", headers=auth).json
        assert got["importances"] == IMP and got["source_run_id"] == rid and got["method"] == "permutation"
    # replacing the run's explanation does not change what the versions were registered with
    put_run(client, auth, rid, {"importances": {"age": 1.0}, "method": "shap"})
    assert client.get("/api/v1/models/churn/versions/1/explanation", headers=auth).json["importances"] == IMP
    dep = client.get("/api/v1/models/churn/versions/1", headers=auth).json
    assert dep["explanation_url"].endswith("/api/v1/models/churn/versions/1/explanation")
    assert dep["card_url"].endswith("/api/v1/models/churn/versions/1/card")


def test_no_explanation_is_404_and_link_is_null(client, auth, backend):
    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    assert_error(client.get(f"/api/v1/runs/{rid}/explanation", headers=auth), 404, "NOT_FOUND")
    assert_error(client.get("/api/v1/models/churn/versions/1/explanation", headers=auth), 404, "NOT_FOUND")
    assert client.get("/api/v1/models/churn/versions/1", headers=auth).json["explanation_url"] is None


def test_production_rule_set_once_and_audited(client, auth, users, admin_token, backend):
    from tests.conftest import bearer

    rid = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", rid)
    register(client, auth, "churn", rid)
    # v1: set, replaced while Staging/None, then frozen in Production
    put_version(client, auth, "churn", 1, {"importances": IMP, "method": "shap"})
    put_version(client, auth, "churn", 1, {"importances": {**IMP, "age": 0.9}, "method": "shap"})
    rev = new_reviewer(client, auth, users, model["id"])
    promote(client, auth, rev, "churn", 1)
    err = assert_error(
        client.put(
            "/api/v1/models/churn/versions/1/explanation",
            json={"importances": IMP, "method": "shap"},
            headers=auth,
        ),
        409,
        "FAILED_PRECONDITION",
    )
    assert "Production" in err["message"]
    # v2 reaches Production without one: it may get one once, then it is frozen too
    promote(client, auth, rev, "churn", 2)
    prod = client.get("/api/v1/models/churn/stages/production", headers=auth)
    assert prod.json["version"] == 2 and prod.json["explanation_url"] is None
    etag = prod.headers["ETag"]
    put_version(client, auth, "churn", 2, {"importances": IMP, "method": "gain"})
    prod = client.get("/api/v1/models/churn/stages/production", headers={**auth, "If-None-Match": etag})
    assert prod.status_code == 200 and prod.json["explanation_url"].endswith("/versions/2/explanation")
    put_version(client, auth, "churn", 2, {"importances": IMP, "method": "gain"}, status=409)

    audit = client.get(
        "/api/v1/audit?model=churn&action=model.explanation_set", headers=bearer(admin_token)
    ).json
    rows = [
        (e["details"]["version"], e["details"]["stage"], e["details"]["replaced"]) for e in audit["items"]
    ]
    assert rows == [(1, "None", False), (1, "None", True), (2, "Production", False)]


def test_explanation_needs_edit_on_the_model(client, auth, users, backend):
    from tests.conftest import bearer
    from tests.registry.helpers import grant

    rid = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", rid)
    uid, tok = users.create("olga", "writer")
    grant(client, auth, uid, model["id"], "READ")
    other = bearer(tok)
    assert_error(
        client.put(
            "/api/v1/models/churn/versions/1/explanation",
            json={"importances": IMP, "method": "x"},
            headers=other,
        ),
        403,
        "PERMISSION_DENIED",
    )
    assert_error(
        client.put(
            f"/api/v1/runs/{rid}/explanation", json={"importances": IMP, "method": "x"}, headers=other
        ),
        404,
        "NOT_FOUND",
    )


@pytest.mark.parametrize(
    "raw,field",
    [
        (b'{"importances": {"a": NaN}, "method": "shap"}', None),  # refused by the strict JSON guard
        (b'{"importances": {"a": 1, "a": 2}, "method": "shap"}', "importances"),
        (b'{"importances": {"a": "1"}, "method": "shap"}', "importances"),
        (b'{"importances": {"a": 1}}', "method"),
        (b'{"importances": {"a": 1}, "method": "m", "dataset": 999999}', "dataset"),
        (b"not json", None),
    ],
)
def test_bad_input_is_400_naming_the_field(client, auth, raw, field, backend):
    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    for url in (f"/api/v1/runs/{rid}/explanation", "/api/v1/models/churn/versions/1/explanation"):
        r = client.put(url, data=raw, headers={**auth, "Content-Type": "application/json"})
        err = assert_error(r, 400, "INVALID_ARGUMENT")
        if field is None:  # the body guard parses strictly before the route: it names the position
            assert "position" in err["details"], err
        else:
            assert err["details"]["field"] == field, err


def test_too_many_features_is_400(client, auth, backend):
    rid = training_run(client, auth)
    body = {"importances": {f"f{i}": 1.0 for i in range(10_001)}, "method": "gain"}
    err = assert_error(
        client.put(f"/api/v1/runs/{rid}/explanation", json=body, headers=auth), 400, "INVALID_ARGUMENT"
    )
    assert err["details"] == {"field": "importances", "limit": 10_000}
    create_model(client, auth)
    register(client, auth, "churn", rid)
    url = "/api/v1/models/churn/versions/1/explanation"
    err = assert_error(client.put(url, json=body, headers=auth), 400, "INVALID_ARGUMENT")
    assert err["details"] == {"field": "importances", "limit": 10_000}
    assert_error(client.get(url, headers=auth), 404, "NOT_FOUND")  # nothing was stored


def test_review_shows_the_comparison(client, auth, users, backend):
    rid = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", rid)
    register(client, auth, "churn", rid)
    prod = {f"f{i:02d}": float(20 - i) for i in range(20)}
    # the candidate keeps 4 of the production top 10: a large change
    order = [f"f{i:02d}" for i in [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19]]
    cand = {f: float(20 - i) for i, f in enumerate(order)}
    put_version(client, auth, "churn", 1, {"importances": prod, "method": "shap"})
    put_version(client, auth, "churn", 2, {"importances": cand, "method": "permutation"})
    rev = new_reviewer(client, auth, users, model["id"])
    pending = request_stage(client, auth, "churn", 2, "Production")
    first = client.get(f"/api/v1/transition-requests/{pending['id']}", headers=rev).json[
        "explanation_comparison"
    ]
    assert first["available"] is False and "no Production version" in first["reason"]
    client.post(f"/api/v1/transition-requests/{pending['id']}/cancel", json={}, headers=auth)

    promote(client, auth, rev, "churn", 1)
    req = request_stage(client, auth, "churn", 2, "Production")
    cmp = client.get(f"/api/v1/transition-requests/{req['id']}", headers=rev).json["explanation_comparison"]
    assert cmp["available"] is True and cmp["same_method"] is False
    assert cmp["candidate"]["version"] == 2 and cmp["production"]["version"] == 1
    assert cmp["top_overlap"] == pytest.approx(0.4) and cmp["large_change"] is True
    assert cmp["entered_top"] == [f"f{i}" for i in range(10, 16)]
    assert cmp["left_top"] == [f"f0{i}" for i in range(4, 10)]
    from scipy import stats

    common = sorted(prod)
    rho = stats.spearmanr([cand[f] for f in common], [prod[f] for f in common]).statistic
    assert cmp["spearman"] == pytest.approx(rho)
    # the list view carries no comparison (it is computed per request on the GET)
    listed = client.get("/api/v1/transition-requests?status=pending", headers=rev).json["items"][0]
    assert "explanation_comparison" not in listed


def test_importances_for_version_is_what_monitoring_weighs_drift_with(app, client, auth, backend):
    from sqlalchemy import select

    from tether_server.models.registry import ModelVersion
    from tether_server.runtime import Runtime
    from tether_server.services.explain import importances_for_version
    from tether_server.stats import importance_drift_share

    rid = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", rid)
    register(client, auth, "churn", rid)
    put_version(client, auth, "churn", 1, {"importances": IMP, "method": "coefficient"})
    with Runtime.of(app).database.session(write=False) as s:
        ids = dict(s.execute(select(ModelVersion.version, ModelVersion.id)).all())
        weights = importances_for_version(s, ids[1])
        assert importances_for_version(s, ids[2]) is None
    assert weights == {"age": 0.4, "income": 0.3, "tenure": 0.2, "region": 0.05}  # |coefficient|
    share = importance_drift_share({"age": False, "income": True, "tenure": True, "region": False}, weights)
    assert share == pytest.approx(0.5 / 0.95)
