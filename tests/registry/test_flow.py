"""The whole loop on SQLite and PostgreSQL: training run → register → request → approve → production fetch."""

from __future__ import annotations

import io
import tarfile
from urllib.parse import urlsplit

from tests.api.helpers import assert_error
from tests.registry.helpers import (
    FILES,
    add_dataset_input,
    create_model,
    grant,
    register,
    request_stage,
    reviewer,
    sha,
    training_run,
)
from tether_server.runtime import Runtime


def test_training_run_to_production_fetch(app, client, auth, users, backend):
    run_id = training_run(client, auth)
    dv_id = add_dataset_input(app, run_id)
    model = create_model(client, auth)
    v1 = register(
        client,
        auth,
        "churn",
        run_id,
        "model",
        metadata={"framework": "sklearn", "signature": {"inputs": [{"name": "age", "type": "long"}]}},
    )
    assert v1["version"] == 1 and v1["stage"] == "None" and v1["run_id"] == run_id
    assert v1["metadata"]["metrics"] == {"auc": 0.91, "loss": "NaN"}
    assert v1["metadata"]["framework"] == "sklearn" and v1["metadata"]["params"] == {"lr": "0.1"}

    # Staging needs no approval by default: a writer moves there directly.
    staged = request_stage(client, auth, "churn", 1, "staging")
    assert staged["status"] == "approved" and staged["to_stage"] == "Staging"

    req = request_stage(client, auth, "churn", 1, "Production")
    assert req["status"] == "pending" and req["required_approvals"] == 1 and req["from_stage"] == "Staging"
    assert_error(
        client.post(f"/api/v1/transition-requests/{req['id']}/approve", json={}, headers=auth),
        403,
        "PERMISSION_DENIED",
    )  # writers are not reviewers

    rid, rev = reviewer(users, "rita")
    grant(client, auth, rid, model["id"], "READ")
    pending = client.get("/api/v1/transition-requests?status=pending", headers=rev).json["items"]
    assert [p["id"] for p in pending] == [req["id"]]
    r = client.post(
        f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": "metrics ok"}, headers=rev
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approved" and r.json["approvals"][0]["user"] == "rita"

    for spelled in ("production", "PRODUCTION", "Production"):
        r = client.get(f"/api/v1/models/churn/stages/{spelled}", headers=rev)
        assert r.status_code == 200, r.json
    body = r.json
    assert body["version"] == 1 and body["stage"] == "Production" and body["run_id"] == run_id
    assert body["datasets"] == [
        {"name": "churn-data", "hash": "ab" * 32, "context": "training", "dataset_version_id": dv_id}
    ]
    expected = {k.removeprefix("model/"): v for k, v in FILES.items() if k.startswith("model/")}
    assert {f["path"]: (f["size"], f["sha256"]) for f in body["files"]} == {
        p: (len(d), sha(d)) for p, d in expected.items()
    }
    for f in body["files"]:
        got = client.get(urlsplit(f["download_url"]).path, headers=rev)
        assert got.status_code == 200 and got.data == expected[f["path"]]

    archive = client.get("/api/v1/models/churn/stages/production/download", headers=rev)
    assert archive.status_code == 200 and archive.mimetype == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(archive.data)) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}
    assert members == {f"churn-v1/{p}": d for p, d in expected.items()}

    audit = client.get("/api/v1/audit?model=churn", headers=rev).json["items"]
    actions = [a["action"] for a in audit]
    for needed in (
        "model.created",
        "model.version_created",
        "model.transition_requested",
        "model.transition_approved",
        "model.stage_changed",
    ):
        assert needed in actions, actions
    change = [a for a in audit if a["action"] == "model.stage_changed" and a["to_value"] == "Production"][0]
    assert change["from_value"] == "Staging" and change["actor_name"] == "rita"


def test_register_needs_edit_on_model_and_read_on_run(client, auth, users, backend):
    from tests.conftest import bearer

    run_id = training_run(client, auth)
    create_model(client, auth)
    _uid, tok = users.create("otto", "writer")
    other = bearer(tok)
    # otto cannot see wendy's model or run
    assert_error(
        client.post(
            "/api/v1/models/churn/versions", json={"run_id": run_id, "artifact_path": "model"}, headers=other
        ),
        404,
        "NOT_FOUND",
    )
    create_model(client, other, "otto-model")
    assert_error(
        client.post(
            "/api/v1/models/otto-model/versions",
            json={"run_id": run_id, "artifact_path": "model"},
            headers=other,
        ),
        404,
        "NOT_FOUND",
    )
    assert_error(
        client.post(
            "/api/v1/models/churn/versions", json={"run_id": run_id, "artifact_path": "nope"}, headers=auth
        ),
        400,
        "INVALID_ARGUMENT",
    )


def test_model_names_are_validated_and_unique(client, auth, backend):
    for bad in ("", "a b", "../x", "x/y", "-lead", "é"):
        assert_error(client.post("/api/v1/models", json={"name": bad}, headers=auth), 400, "INVALID_ARGUMENT")
    create_model(client, auth, "ok.name_1-2")
    assert_error(
        client.post("/api/v1/models", json={"name": "ok.name_1-2"}, headers=auth), 409, "ALREADY_EXISTS"
    )


def test_versions_number_sequentially_and_list(client, auth, backend):
    run_id = training_run(client, auth)
    create_model(client, auth)
    nums = [register(client, auth, "churn", run_id)["version"] for _ in range(3)]
    assert nums == [1, 2, 3]
    r = client.get("/api/v1/models/churn/versions?max_results=2", headers=auth)
    assert [v["version"] for v in r.json["items"]] == [3, 2] and r.json["next_page_token"]
    r2 = client.get(
        f"/api/v1/models/churn/versions?max_results=2&page_token={r.json['next_page_token']}", headers=auth
    )
    assert [v["version"] for v in r2.json["items"]] == [1] and r2.json["next_page_token"] is None
    single = register(client, auth, "churn", run_id, "model/config.json")
    got = client.get(f"/api/v1/models/churn/versions/{single['version']}", headers=auth).json
    assert [f["path"] for f in got["files"]] == ["config.json"]
    models = client.get("/api/v1/models", headers=auth).json["items"]
    assert models[0]["name"] == "churn" and models[0]["latest_version"] == 4


def test_gc_keeps_registered_files_after_the_source_run_is_purged(app, client, auth, db_session):
    """Registry objects live under registry/: gc must never treat them as a deleted run's files."""
    import hashlib

    from tether_server.services.artifacts.gc import collect

    rid = training_run(client, auth, "gc-train")
    create_model(client, auth, "gcm")
    register(client, auth, "gcm", rid)
    store = Runtime.of(app).store
    store.put_stream("registry/999/1/model/stray.bin", io.BytesIO(b"s"), 1)  # failed registration leftover
    assert client.delete(f"/api/v1/runs/{rid}", headers=auth).status_code == 200
    rep = collect(db_session, store, grace_ms=0, dry_run=False, purge_deleted_runs=True)
    assert rep.orphans == ["registry/999/1/model/stray.bin"]
    assert rep.deleted_run_objects and all(not k.startswith("registry/") for k in rep.deleted_run_objects)
    files = client.get("/api/v1/models/gcm/versions/1", headers=auth).json["files"]
    for f in files:
        r = client.get(f"/api/v1/models/gcm/versions/1/files/{f['path']}", headers=auth)
        assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == f["sha256"]
