"""The MLflow routes' contract without the MLflow client: MLflow-shaped errors (the client reads
``error_code``), MLflow's limits, protobuf JSON values, and Tether's permissions and error shape
elsewhere."""

from __future__ import annotations

from typing import Any

from tests.conftest import Users, bearer

P = "/api/2.0/mlflow"


def _code(resp: Any) -> tuple[int, str]:
    body = resp.get_json()
    assert set(body) == {"error_code", "message"} and body["message"], body
    return resp.status_code, body["error_code"]


def _run(client: Any, auth: dict[str, str], name: str = "errs") -> tuple[str, str]:
    exp = client.post(f"{P}/experiments/create", json={"name": name}, headers=auth).get_json()[
        "experiment_id"
    ]
    run = client.post(f"{P}/runs/create", json={"experiment_id": exp, "run_name": "r"}, headers=auth)
    assert run.status_code == 200, run.get_json()
    return exp, run.get_json()["run"]["info"]["run_id"]


def test_error_codes_the_client_depends_on(client: Any, auth: dict[str, str]) -> None:
    missing = client.get(
        f"{P}/experiments/get-by-name", query_string={"experiment_name": "nope"}, headers=auth
    )
    assert _code(missing) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert client.post(f"{P}/experiments/create", json={"name": "dup"}, headers=auth).status_code == 200
    again = client.post(f"{P}/experiments/create", json={"name": "dup"}, headers=auth)
    assert _code(again) == (409, "RESOURCE_ALREADY_EXISTS")
    assert _code(client.post(f"{P}/no/such/endpoint", json={}, headers=auth)) == (404, "ENDPOINT_NOT_FOUND")
    assert _code(client.get(f"{P}/runs/create", headers=auth))[1] == "ENDPOINT_NOT_FOUND"
    assert _code(client.get(f"{P}/runs/get", query_string={"run_id": "0" * 32}, headers=auth)) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert _code(client.get(f"{P}/runs/get", headers=auth)) == (400, "INVALID_PARAMETER_VALUE")
    assert _code(client.post(f"{P}/experiments/create", json={"name": "x"})) == (401, "UNAUTHENTICATED")
    # Tether's own API keeps its shape.
    v1 = client.get("/api/v1/experiments/999", headers=auth)
    assert v1.status_code == 404 and v1.get_json()["error"]["code"] == "NOT_FOUND"


def test_log_batch_limits_are_mlflows(client: Any, auth: dict[str, str]) -> None:
    _exp, run_id = _run(client, auth)
    metric = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    cases = {
        "metrics": [dict(metric, step=i) for i in range(1001)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(101)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(101)],
    }
    for field, items in cases.items():
        resp = client.post(f"{P}/runs/log-batch", json={"run_id": run_id, field: items}, headers=auth)
        assert _code(resp) == (400, "INVALID_PARAMETER_VALUE"), field
    over = {
        "run_id": run_id,
        "metrics": [dict(metric, step=i) for i in range(1000)],
        "params": [{"key": "p", "value": "v"}],
    }
    assert _code(client.post(f"{P}/runs/log-batch", json=over, headers=auth)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    at_limit = {**over, "params": []}
    assert client.post(f"{P}/runs/log-batch", json=at_limit, headers=auth).get_json() == {}
    hist = client.get(
        f"{P}/metrics/get-history", query_string={"run_id": run_id, "metric_key": "m"}, headers=auth
    )
    assert len(hist.get_json()["metrics"]) == 1000


def test_values_in_protobuf_json(client: Any, auth: dict[str, str]) -> None:
    _exp, run_id = _run(client, auth)
    for key, value in [("n", "NaN"), ("p", "Infinity"), ("m", "-Infinity"), ("f", 0.25)]:
        body = {"run_id": run_id, "key": key, "value": value, "timestamp": 5, "step": 2}
        assert client.post(f"{P}/runs/log-metric", json=body, headers=auth).get_json() == {}
    run = client.get(f"{P}/runs/get", query_string={"run_id": run_id}, headers=auth).get_json()["run"]
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics == {"n": "NaN", "p": "Infinity", "m": "-Infinity", "f": 0.25}
    assert isinstance(run["info"]["experiment_id"], str) and run["info"]["artifact_uri"].startswith(
        "mlflow-artifacts:/"
    )
    assert (
        client.get(
            f"{P}/metrics/get-history", query_string={"run_id": run_id, "metric_key": "absent"}, headers=auth
        ).get_json()
        == {}
    )
    listing = client.get(
        "/api/2.0/mlflow-artifacts/artifacts",
        query_string={"path": f"{run['info']['experiment_id']}/{run_id}/artifacts/none"},
        headers=auth,
    )
    assert listing.status_code == 200 and listing.get_json() == {}


def test_permissions_filter_mlflow_reads(client: Any, users: Users, auth: dict[str, str]) -> None:
    """Another writer's experiment and runs are invisible (TETHER_DEFAULT_PERMISSION=NONE), as in
    /api/v1; a viewer cannot create."""
    exp, run_id = _run(client, auth, "private")
    _other_id, other = users.create("olga", "writer")
    _viewer_id, viewer = users.create("vic", "viewer")
    other_auth = bearer(other)
    by_name = client.get(
        f"{P}/experiments/get-by-name", query_string={"experiment_name": "private"}, headers=other_auth
    )
    assert _code(by_name) == (404, "RESOURCE_DOES_NOT_EXIST")
    found = client.post(f"{P}/runs/search", json={"experiment_ids": [exp]}, headers=other_auth).get_json()
    assert found == {"runs": []}
    log = client.post(
        f"{P}/runs/log-metric",
        json={"run_id": run_id, "key": "k", "value": 1, "timestamp": 1},
        headers=other_auth,
    )
    assert _code(log) == (404, "RESOURCE_DOES_NOT_EXIST")  # not even readable: Tether hides it
    create = client.post(f"{P}/experiments/create", json={"name": "v"}, headers=bearer(viewer))
    assert _code(create) == (403, "PERMISSION_DENIED")
    mine = client.post(f"{P}/runs/search", json={"experiment_ids": [exp]}, headers=auth).get_json()
    assert [r["info"]["run_id"] for r in mine["runs"]] == [run_id]


def test_finished_run_refuses_metrics_with_invalid_state(client: Any, auth: dict[str, str]) -> None:
    """Tether's rule (documented difference): only RUNNING runs accept new data."""
    _exp, run_id = _run(client, auth)
    done = client.post(f"{P}/runs/update", json={"run_id": run_id, "status": "FINISHED"}, headers=auth)
    info = done.get_json()["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] >= info["start_time"]
    late = client.post(
        f"{P}/runs/log-metric", json={"run_id": run_id, "key": "k", "value": 1, "timestamp": 1}, headers=auth
    )
    assert _code(late) == (409, "INVALID_STATE")


def test_malformed_bodies_on_every_mlflow_json_route(app: Any, client: Any, users: Users) -> None:
    """The body checks every JSON route has (depth, media type) answer in MLflow's shape here."""
    from tests.hardening.test_malformed_bodies import _deep_array, json_routes
    from tether_server.bodyguard import MAX_JSON_DEPTH
    from tether_server.errors import MLFLOW_PREFIXES

    admin = bearer(users.create("root", "admin")[1])
    routes = json_routes(app, MLFLOW_PREFIXES)
    assert ("POST", f"{P}/runs/log-batch") in routes and ("PATCH", f"{P}/registered-models/update") in routes
    for method, url in routes:
        deep = client.open(
            url,
            method=method,
            data=_deep_array(MAX_JSON_DEPTH + 1),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert _code(deep) == (400, "INVALID_PARAMETER_VALUE"), (method, url)
        text = client.open(url, method=method, data=b"{}", headers={**admin, "Content-Type": "text/plain"})
        assert _code(text) == (415, "INVALID_PARAMETER_VALUE"), (method, url)


def test_log_inputs_contexts_and_permissions(client: Any, users: Users, auth: dict[str, str]) -> None:
    """runs/log-inputs: MLflow's context names map onto Tether's, others are refused; the same MLflow
    dataset twice is one Tether version; another writer's run is hidden."""
    _exp, run_id = _run(client, auth)
    ds = {"name": "churn", "digest": "1a2b3c4d", "source_type": "local", "source": '{"uri": "/d.csv"}'}

    def log(context: str | None, headers: dict[str, str] = auth, **extra: Any) -> Any:
        tags = [] if context is None else [{"key": "mlflow.data.context", "value": context}]
        body = {"run_id": run_id, "datasets": [{"tags": tags, "dataset": {**ds, **extra}}]}
        return client.post(f"{P}/runs/log-inputs", json=body, headers=headers)

    assert log("train").get_json() == {} and log("test").get_json() == {} and log(None).get_json() == {}
    assert _code(log("holdout")) == (400, "INVALID_PARAMETER_VALUE")
    assert _code(log("train", schema="[1]")) == (400, "INVALID_PARAMETER_VALUE")
    other = bearer(users.create("olga", "writer")[1])
    assert _code(log("train", other)) == (404, "RESOURCE_DOES_NOT_EXIST")
    inputs = client.get(f"/api/v1/runs/{run_id}/inputs", headers=auth).get_json()["items"]
    assert sorted(i["context"] for i in inputs) == ["evaluation", "training"]
    assert len({i["root_hash"] for i in inputs}) == 1
    run = client.get(f"{P}/runs/get", query_string={"run_id": run_id}, headers=auth).get_json()["run"]
    got = run["inputs"]["dataset_inputs"]
    assert {(d["dataset"]["name"], d["dataset"]["digest"], d["dataset"]["source_type"]) for d in got} == {
        ("churn", "1a2b3c4d", "local")
    }
    assert got[0]["dataset"]["source"] == ds["source"]


def test_artifact_listing_of_a_file_path_is_empty(client: Any, auth: dict[str, str]) -> None:
    """MLflow's server answers 200 {} when ?path= names a file (the client then treats it as a file)."""
    exp, run_id = _run(client, auth)
    a = "/api/2.0/mlflow-artifacts/artifacts"
    put = client.put(f"{a}/{exp}/{run_id}/artifacts/dir/f.txt", data=b"abc", headers=auth)
    assert put.status_code == 200 and put.get_json() == {}
    listing = client.get(a, query_string={"path": f"{exp}/{run_id}/artifacts/dir/f.txt"}, headers=auth)
    assert listing.status_code == 200 and listing.get_json() == {}
    folder = client.get(a, query_string={"path": f"{exp}/{run_id}/artifacts/dir"}, headers=auth).get_json()
    assert folder == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 3}]}
    assert client.get(f"{a}/{exp}/{run_id}/artifacts/dir/f.txt", headers=auth).data == b"abc"
    wrong = client.get(a, query_string={"path": f"{int(exp) + 1}/{run_id}/artifacts"}, headers=auth)
    assert _code(wrong) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_latest_versions_answers_get_as_well(client: Any, auth: dict[str, str]) -> None:
    """The client POSTs get-latest-versions and falls back to GET on ENDPOINT_NOT_FOUND; both work,
    and an unknown stage is refused in MLflow's shape."""
    assert client.post(f"{P}/registered-models/create", json={"name": "lv"}, headers=auth).status_code == 200
    got = client.get(
        f"{P}/registered-models/get-latest-versions",
        query_string={"name": "lv", "stages": "Staging"},
        headers=auth,
    )
    assert got.status_code == 200 and got.get_json() == {"model_versions": []}
    posted = client.post(f"{P}/registered-models/get-latest-versions", json={"name": "lv"}, headers=auth)
    assert posted.get_json() == {"model_versions": []}
    bad = client.post(
        f"{P}/registered-models/get-latest-versions", json={"name": "lv", "stages": ["Nowhere"]}, headers=auth
    )
    assert _code(bad) == (400, "INVALID_PARAMETER_VALUE")
    missing = client.get(
        f"{P}/registered-models/get-latest-versions", query_string={"name": "no"}, headers=auth
    )
    assert _code(missing) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_run_search_takes_mlflows_spellings(client: Any, auth: dict[str, str]) -> None:
    """MLflow's alternate identifiers (parameter(s)., run., created, the mlflow.runName tag) mean
    what they mean to MLflow; text inside string literals is left alone."""
    exp, first = _run(client, auth, "spellings")
    second = client.post(f"{P}/runs/create", json={"experiment_id": exp, "run_name": "s"}, headers=auth)
    second_id = second.get_json()["run"]["info"]["run_id"]
    for rid, value in ((first, "1"), (second_id, "parameter.x")):
        body = {"run_id": rid, "key": "my param", "value": value}
        assert client.post(f"{P}/runs/log-parameter", json=body, headers=auth).status_code == 200

    def found(filter: str, order_by: list[str] | None = None) -> list[str]:
        body = {"experiment_ids": [exp], "filter": filter, "order_by": order_by or []}
        resp = client.post(f"{P}/runs/search", json=body, headers=auth)
        assert resp.status_code == 200, (filter, resp.get_json())
        return [r["info"]["run_id"] for r in resp.get_json()["runs"]]

    assert found("parameters.`my param` = '1'") == [first] == found("parameter.`my param` = '1'")
    assert found("run.run_name = 'r'") == [first] == found("tags.`mlflow.runName` = 'r'")
    assert found("params.`my param` = 'parameter.x'") == [second_id]
    assert found("attributes.created > 0", ["run.created ASC"]) == [first, second_id]
    assert found("", ["tags.mlflow.runName DESC"]) == [second_id, first]
