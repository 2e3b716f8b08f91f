"""Deployment reads: ETag/304, clear 404s, immutability after the source run and its artifacts are gone."""

from __future__ import annotations

import io
import tarfile
from urllib.parse import urlsplit

from tests.api.helpers import assert_error
from tests.registry.helpers import (
    FILES,
    create_model,
    grant,
    register,
    request_stage,
    reviewer,
    sha,
    training_run,
    version_keys,
)
from tether_server.runtime import Runtime


def _to_production(client, auth, users, model, version, name="rita"):
    rid, rev = reviewer(users, name)
    grant(client, auth, rid, model["id"])
    req = request_stage(client, auth, "churn", version, "Production")
    assert (
        client.post(
            f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": "ok"}, headers=rev
        ).status_code
        == 200
    )


def test_etag_and_304(client, auth, users, backend):
    run_id = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", run_id)
    err = assert_error(client.get("/api/v1/models/churn/stages/production", headers=auth), 404, "NOT_FOUND")
    assert "Production" in err["message"]
    assert_error(client.get("/api/v1/models/churn/stages/bogus", headers=auth), 400, "INVALID_ARGUMENT")
    _to_production(client, auth, users, model, 1)

    first = client.get("/api/v1/models/churn/stages/production", headers=auth)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    again = client.get("/api/v1/models/churn/stages/production", headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert (
        client.get(
            "/api/v1/models/churn/stages/production", headers={**auth, "If-None-Match": 'W/"other"'}
        ).status_code
        == 200
    )

    # An alias move touching the production version changes its representation, hence the ETag.
    client.put("/api/v1/models/churn/aliases/champion", json={"version": 1}, headers=auth)
    moved = client.get("/api/v1/models/churn/stages/production", headers={**auth, "If-None-Match": etag})
    assert (
        moved.status_code == 200 and moved.headers["ETag"] != etag and moved.json["aliases"] == ["champion"]
    )

    # A new production version changes it too.
    register(client, auth, "churn", run_id)
    _to_production(client, auth, users, model, 2, "ron")
    newer = client.get(
        "/api/v1/models/churn/stages/production", headers={**auth, "If-None-Match": moved.headers["ETag"]}
    )
    assert newer.status_code == 200 and newer.json["version"] == 2

    alias = client.get("/api/v1/models/churn/aliases/champion", headers=auth)
    assert alias.json["version"] == 1 and alias.json["stage"] == "Archived"
    assert (
        client.get(
            "/api/v1/models/churn/aliases/champion", headers={**auth, "If-None-Match": alias.headers["ETag"]}
        ).status_code
        == 304
    )

    f = newer.json["files"][0]
    one = client.get(urlsplit(f["download_url"]).path, headers=auth)
    assert one.headers["ETag"] == f'"{f["sha256"]}"'
    assert (
        client.get(
            urlsplit(f["download_url"]).path, headers={**auth, "If-None-Match": one.headers["ETag"]}
        ).status_code
        == 304
    )


def test_registered_version_survives_run_and_artifact_deletion(app, client, auth, users, backend):
    run_id = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", run_id)
    _to_production(client, auth, users, model, 1)
    for path in FILES:
        assert client.delete(f"/api/v1/runs/{run_id}/artifacts/{path}", headers=auth).status_code == 204
    assert client.delete(f"/api/v1/runs/{run_id}", headers=auth).status_code == 200
    # Purge the run for good, as gc would.
    from tether_server.services.tracking.runs import hard_delete_run

    with Runtime.of(app).database.session() as s:
        hard_delete_run(s, run_id)
        s.commit()
    store = Runtime.of(app).store
    assert not [o for o in store.list("") if run_id in o.key]

    body = client.get("/api/v1/models/churn/stages/production", headers=auth).json
    assert body["run_id"] == run_id and body["metadata"]["metrics"]["auc"] == 0.91
    expected = {k.removeprefix("model/"): v for k, v in FILES.items() if k.startswith("model/")}
    for f in body["files"]:
        got = client.get(urlsplit(f["download_url"]).path, headers=auth)
        assert got.status_code == 200 and sha(got.data) == f["sha256"] == sha(expected[f["path"]])
    tar = client.get("/api/v1/models/churn/versions/1/download", headers=auth)
    with tarfile.open(fileobj=io.BytesIO(tar.data)) as tf:
        assert sorted(m.name for m in tf.getmembers()) == sorted(f"churn-v1/{p}" for p in expected)
    lineage = client.get("/api/v1/lineage/model-versions/churn/1", headers=auth).json
    run_node = [n for n in lineage["nodes"] if n["type"] == "run"][0]
    assert run_node["lifecycle"] == "purged"


def test_deleting_a_version_removes_its_registry_objects(app, client, auth, backend):
    run_id = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", run_id)
    register(client, auth, "churn", run_id)
    store = Runtime.of(app).store
    v1, v2 = set(version_keys(app, "churn", 1).values()), set(version_keys(app, "churn", 2).values())
    stored = lambda: {o.key for o in store.list("registry/")}  # noqa: E731
    assert v1 and v2 and not v1 & v2 and stored() == v1 | v2
    assert client.delete("/api/v1/models/churn/versions/1", headers=auth).status_code == 204
    assert stored() == v2
    assert_error(client.get("/api/v1/models/churn/versions/1", headers=auth), 404, "NOT_FOUND")
    assert client.delete("/api/v1/models/churn", headers=auth).status_code == 204
    assert [o.key for o in store.list("registry/")] == []


def test_lineage_both_directions(app, client, auth, users, backend):
    from tests.registry.helpers import add_dataset_input

    run_id = training_run(client, auth)
    dv_id = add_dataset_input(app, run_id)
    model = create_model(client, auth)
    register(client, auth, "churn", run_id)
    _to_production(client, auth, users, model, 1)
    client.put("/api/v1/models/churn/aliases/champion", json={"version": 1}, headers=auth)
    g = client.get("/api/v1/lineage/model-versions/churn/1", headers=auth).json
    kinds = {(e["source"].split(":")[0], e["target"].split(":")[0], e["type"]) for e in g["edges"]}
    assert {
        ("dataset_version", "run", "input"),
        ("run", "model_version", "produced"),
        ("model_version", "stage", "stage_change"),
        ("model_version", "alias", "alias_set"),
    } <= kinds
    assert [h["to"] for h in g["history"] if h["action"] == "model.stage_changed"] == ["Production"]
    rev = client.get(f"/api/v1/lineage/dataset-versions/{dv_id}", headers=auth).json
    assert {n["type"] for n in rev["nodes"]} == {"dataset_version", "run", "model_version"}
    assert_error(client.get("/api/v1/lineage/dataset-versions/999999", headers=auth), 404, "NOT_FOUND")


def test_register_answers_like_get_and_files_honour_range(app, client, auth, backend):
    from tests.registry.helpers import add_dataset_input

    run_id = training_run(client, auth)
    add_dataset_input(app, run_id)
    create_model(client, auth)
    created = register(client, auth, "churn", run_id, metadata={"framework": "xgboost", "auc": 0.95})
    got = client.get("/api/v1/models/churn/versions/1", headers=auth).json
    assert created == got
    assert [d["name"] for d in created["datasets"]] == ["churn-data"]
    assert sorted(f["path"] for f in created["files"]) == sorted(
        p[len("model/") :] for p in FILES if p.startswith("model/")
    )
    assert created["metadata"]["framework"] == "xgboost" and created["metadata"]["extra"] == {"auc": 0.95}

    err = assert_error(client.get("/api/v1/models/churn/stages/production", headers=auth), 404, "NOT_FOUND")
    assert err["message"] == "Model 'churn' has no version in Production"

    data = FILES["model/weights.bin"]
    url = "/api/v1/models/churn/versions/1/files/weights.bin"
    whole = client.get(url, headers=auth)
    assert whole.status_code == 200 and whole.data == data and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={**auth, "Range": "bytes=10-99"})
    assert part.status_code == 206 and part.data == data[10:100]
    assert (
        part.headers["Content-Range"] == f"bytes 10-99/{len(data)}" and part.headers["Content-Length"] == "90"
    )
    tail = client.get(url, headers={**auth, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.data == data[-5:]
    # If-Range with another ETag: the whole file, not a slice of something else
    stale = client.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.data == data
    bad = client.get(url, headers={**auth, "Range": f"bytes={len(data) + 10}-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{len(data)}"
