"""MLflow search and tag routes that the client reaches without special calls: ``datasets.*`` run
filters, ``runs/delete-tag``, and LIKE/ILIKE (and tag) filters on experiment and registry searches
matched in the query, so every page is full and its token continues where it stopped. Raw HTTP on
SQLite and PostgreSQL (the ``client`` fixture runs on both)."""

from __future__ import annotations

from typing import Any

from tests.mlflow.test_errors import P, _code, _run

A = "/api/2.0/mlflow-artifacts/artifacts"


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def _new_run(client: Any, auth: dict[str, str], exp: str, name: str) -> str:
    body = {"experiment_id": exp, "run_name": name}
    return _ok(client.post(f"{P}/runs/create", json=body, headers=auth))["run"]["info"]["run_id"]  # type: ignore[no-any-return]


def _log_input(client: Any, auth: dict[str, str], run_id: str, name: str, digest: str, ctx: str) -> None:
    item = {
        "tags": [{"key": "mlflow.data.context", "value": ctx}],
        "dataset": {"name": name, "digest": digest, "source_type": "local", "source": f"/data/{name}"},
    }
    _ok(client.post(f"{P}/runs/log-inputs", json={"run_id": run_id, "datasets": [item]}, headers=auth))


def test_runs_search_filters_on_datasets(client: Any, auth: dict[str, str]) -> None:
    exp, iris = _run(client, auth, "ds-search")
    wine, bare = _new_run(client, auth, exp, "wine"), _new_run(client, auth, exp, "bare")
    _log_input(client, auth, iris, "iris", "abc123", "train")
    _log_input(client, auth, wine, "wine", "def456", "eval")
    _log_input(client, auth, wine, "iris-holdout", "0a1b", "validation")
    body = {"run_id": wine, "metrics": [{"key": "acc", "value": 0.9, "timestamp": 1, "step": 0}]}
    _ok(client.post(f"{P}/runs/log-batch", json=body, headers=auth))

    def found(filter: str) -> set[str]:
        body = {"experiment_ids": [exp], "filter": filter}
        return {
            r["info"]["run_id"] for r in _ok(client.post(f"{P}/runs/search", json=body, headers=auth))["runs"]
        }

    assert found("datasets.name = 'iris'") == {iris} == found("dataset.name = 'iris'")
    assert found("datasets.digest = 'def456'") == {wine}
    assert found("datasets.digest LIKE 'abc%'") == {iris} == found("datasets.digest ILIKE 'ABC%'")
    assert found("datasets.context = 'train'") == {iris} == found("datasets.context = 'training'")
    assert found("datasets.context IN ('test', 'val')") == {wine}
    assert found("datasets.name LIKE 'iris%'") == {iris, wine}
    assert found("datasets.name IN ('wine', 'nope')") == {wine}
    assert found("datasets.name NOT IN ('iris')") == {wine}  # some input of wine is not iris
    assert found("datasets.name != 'wine'") == {iris, wine}
    assert found("datasets.name = 'iris' OR metrics.acc > 0.5") == {iris, wine}
    assert found("datasets.name LIKE 'iris%' AND metrics.acc > 0.5") == {wine}
    assert found("NOT datasets.name = 'iris'") == {wine, bare}
    assert bare not in found("datasets.name != 'x'")  # no input, nothing to compare
    # A dataset logged with Tether's SDK: its digest is the version's root hash.
    root = "1" * 64
    sdk = _ok(
        client.post(
            f"/api/v1/runs/{bare}/datasets",
            json={
                "name": "sdk-ds",
                "context": "training",
                "manifest": [{"path": "a.csv", "sha256": root, "size": 1}],
            },
            headers=auth,
        )
    )
    digest = sdk["root_hash"]
    assert found(f"datasets.digest = '{digest}'") == {bare}
    got = _ok(client.get(f"{P}/runs/get", query_string={"run_id": bare}, headers=auth))["run"]["inputs"]
    assert got["dataset_inputs"][0]["dataset"]["digest"] == digest
    for bad in (
        "datasets.size = '1'",
        "datasets.name > 'a'",
        "datasets.name IS NULL",
        "datasets = 'x'",
    ):
        resp = client.post(f"{P}/runs/search", json={"experiment_ids": [exp], "filter": bad}, headers=auth)
        assert _code(resp) == (400, "INVALID_PARAMETER_VALUE"), bad
    order = client.post(
        f"{P}/runs/search", json={"experiment_ids": [exp], "order_by": ["datasets.name"]}, headers=auth
    )
    assert _code(order) == (400, "INVALID_PARAMETER_VALUE")


def test_the_servers_logged_model_tags_cannot_be_set_by_clients(client: Any, auth: dict[str, str]) -> None:
    """``mlflow.loggedModel.<name>`` and the carrier tag record logged models (the server writes
    them); set-tag, log-batch and runs/create refuse them as delete-tag does, and store nothing."""
    exp, run_id = _run(client, auth, "marker-tags")
    for key in ("mlflow.loggedModel.model", "tether.loggedModelRun"):
        one = client.post(
            f"{P}/runs/set-tag", json={"run_id": run_id, "key": key, "value": "x"}, headers=auth
        )
        assert _code(one) == (400, "INVALID_PARAMETER_VALUE"), key
        assert key in one.json["message"]
        batch = client.post(
            f"{P}/runs/log-batch",
            json={"run_id": run_id, "tags": [{"key": "fine", "value": "1"}, {"key": key, "value": "x"}]},
            headers=auth,
        )
        assert _code(batch) == (400, "INVALID_PARAMETER_VALUE"), key
        created = client.post(
            f"{P}/runs/create",
            json={"experiment_id": exp, "tags": [{"key": key, "value": "x"}]},
            headers=auth,
        )
        assert _code(created) == (400, "INVALID_PARAMETER_VALUE"), key
    tags = _ok(client.get(f"{P}/runs/get", query_string={"run_id": run_id}, headers=auth))["run"]["data"][
        "tags"
    ]
    assert not {t["key"] for t in tags} & {"fine", "mlflow.loggedModel.model", "tether.loggedModelRun"}
    _ok(
        client.post(
            f"{P}/runs/set-tag", json={"run_id": run_id, "key": "mlflow.note", "value": "ok"}, headers=auth
        )
    )


def test_delete_tag(client: Any, auth: dict[str, str], users: Any) -> None:
    exp, run_id = _run(client, auth, "del-tag")
    for key in ("keep", "drop"):
        _ok(client.post(f"{P}/runs/set-tag", json={"run_id": run_id, "key": key, "value": "v"}, headers=auth))
    _ok(client.post(f"{P}/runs/delete-tag", json={"run_id": run_id, "key": "drop"}, headers=auth))
    tags = _ok(client.get(f"{P}/runs/get", query_string={"run_id": run_id}, headers=auth))["run"]["data"][
        "tags"
    ]
    keys = {t["key"] for t in tags}
    assert "keep" in keys and "drop" not in keys
    v1 = _ok(client.get(f"/api/v1/runs/{run_id}", headers=auth))
    assert "drop" not in (v1.get("tags") or v1.get("run", {}).get("tags") or {})
    again = client.post(f"{P}/runs/delete-tag", json={"run_id": run_id, "key": "drop"}, headers=auth)
    assert _code(again) == (404, "RESOURCE_DOES_NOT_EXIST")
    for key in ("mlflow.runName", "mlflow.parentRunId", "mlflow.loggedModel.model"):
        kept = client.post(f"{P}/runs/delete-tag", json={"run_id": run_id, "key": key}, headers=auth)
        assert _code(kept) == (400, "INVALID_PARAMETER_VALUE"), key
    assert _code(client.post(f"{P}/runs/delete-tag", json={"run_id": run_id}, headers=auth)) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    missing_run = client.post(f"{P}/runs/delete-tag", json={"run_id": "f" * 32, "key": "keep"}, headers=auth)
    assert _code(missing_run) == (404, "RESOURCE_DOES_NOT_EXIST")
    # Permissions: a viewer cannot; another writer without a grant on the experiment cannot see it.
    _uid, viewer = users.create("vera", "viewer")
    denied = client.post(
        f"{P}/runs/delete-tag",
        json={"run_id": run_id, "key": "keep"},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert denied.status_code in (403, 404) and _code(denied)[1] in (
        "PERMISSION_DENIED",
        "RESOURCE_DOES_NOT_EXIST",
    )
    # Tags of a finished run are frozen in Tether (README: only RUNNING runs accept data).
    _ok(client.post(f"{P}/runs/update", json={"run_id": run_id, "status": "FINISHED"}, headers=auth))
    frozen = client.post(f"{P}/runs/delete-tag", json={"run_id": run_id, "key": "keep"}, headers=auth)
    assert _code(frozen) == (409, "INVALID_STATE")


def _pages(client: Any, auth: dict[str, str], path: str, body: dict[str, Any], field: str) -> list[list[str]]:
    """Every page of a search, following next_page_token, as the names on each page."""
    pages, token = [], None
    while True:
        resp = _ok(
            client.post(f"{P}/{path}", json={**body, "page_token": token} if token else body, headers=auth)
        )
        pages.append([item.get("name") for item in resp.get(field, [])])
        token = resp.get("next_page_token")
        if not token:
            return pages


def test_experiment_like_filters_page_in_sql(client: Any, auth: dict[str, str]) -> None:
    for i in range(5):  # interleaved, so a filter applied after paging would leave holes in pages
        for prefix in ("Like", "other"):
            _ok(client.post(f"{P}/experiments/create", json={"name": f"{prefix}-{i}"}, headers=auth))
    want = [f"Like-{i}" for i in range(5)]
    for flt in ("name LIKE 'Like-%'", "name ILIKE 'like-%'"):
        pages = _pages(client, auth, "experiments/search", {"filter": flt, "max_results": 2}, "experiments")
        assert pages == [want[0:2], want[2:4], want[4:5]], (flt, pages)
    assert _pages(client, auth, "experiments/search", {"filter": "name LIKE 'like-%'"}, "experiments") == [[]]
    single = _ok(
        client.post(
            f"{P}/experiments/search", json={"filter": "name LIKE 'Like-_'", "max_results": 5}, headers=auth
        )
    )
    assert [e["name"] for e in single["experiments"]] == want and "next_page_token" not in single
    # A token belongs to the search it came from.
    first = _ok(
        client.post(
            f"{P}/experiments/search", json={"filter": "name LIKE 'Like-%'", "max_results": 2}, headers=auth
        )
    )
    other = client.post(
        f"{P}/experiments/search",
        json={"filter": "name LIKE 'other-%'", "max_results": 2, "page_token": first["next_page_token"]},
        headers=auth,
    )
    assert _code(other) == (400, "INVALID_PARAMETER_VALUE")
    bad = client.post(f"{P}/experiments/search", json={"filter": "name LIKE 'x\\'"}, headers=auth)
    assert _code(bad) == (400, "INVALID_PARAMETER_VALUE")


def test_registry_filters_page_in_sql(client: Any, auth: dict[str, str]) -> None:
    exp, run_id = _run(client, auth, "reg-like")
    _ok(client.put(f"{A}/{exp}/{run_id}/artifacts/model/MLmodel", data=b"flavors: {}\n", headers=auth))
    for i in range(4):
        for prefix in ("Keep", "skip"):
            name = f"{prefix}-{i}"
            tags = [{"key": "team", "value": "a" if i % 2 == 0 else "b"}]
            _ok(client.post(f"{P}/registered-models/create", json={"name": name, "tags": tags}, headers=auth))
            body = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
            if prefix == "Keep":
                body["tags"] = [{"key": "ok", "value": "yes" if i < 3 else "no"}]
            _ok(client.post(f"{P}/model-versions/create", json=body, headers=auth))
    models = _pages(
        client,
        auth,
        "registered-models/search",
        {"filter": "name LIKE 'Keep-%'", "max_results": 2},
        "registered_models",
    )
    assert models == [["Keep-0", "Keep-1"], ["Keep-2", "Keep-3"]]
    ilike = _pages(
        client,
        auth,
        "registered-models/search",
        {"filter": "name ILIKE 'keep-%' AND tags.team = 'a'", "max_results": 1},
        "registered_models",
    )
    assert ilike == [["Keep-0"], ["Keep-2"]]
    no_tag = _pages(
        client,
        auth,
        "registered-models/search",
        {"filter": "tags.nope != 'x'", "max_results": 3},
        "registered_models",
    )
    assert sorted(sum(no_tag, [])) == sorted(f"{p}-{i}" for i in range(4) for p in ("Keep", "skip"))
    assert [len(p) for p in no_tag] == [3, 3, 2]
    versions = _pages(
        client,
        auth,
        "model-versions/search",
        {"filter": "name LIKE 'Keep-%' AND tags.ok = 'yes'", "max_results": 2},
        "model_versions",
    )
    assert versions == [["Keep-0", "Keep-1"], ["Keep-2"]]
    by_run = _pages(
        client,
        auth,
        "model-versions/search",
        {"filter": f"run_id = '{run_id}' AND tags.ok ILIKE 'N%'", "max_results": 5},
        "model_versions",
    )
    assert by_run == [["Keep-3"]]
    bad = client.post(f"{P}/registered-models/search", json={"filter": "tags.`bad\"key` = 'x'"}, headers=auth)
    assert _code(bad) == (400, "INVALID_PARAMETER_VALUE")


def test_basic_auth_is_refused_in_mlflows_shape(client: Any, users: Any) -> None:
    """Only the bearer token is accepted: MLFLOW_TRACKING_USERNAME/PASSWORD (HTTP basic auth) gets
    401 UNAUTHENTICATED, even with a real user's name and password, and no request runs."""
    import base64

    users.create("bea", "writer")
    basic = base64.b64encode(b"bea:whatever-password").decode()
    resp = client.post(
        f"{P}/experiments/create", json={"name": "basic"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert _code(resp) == (401, "UNAUTHENTICATED")
