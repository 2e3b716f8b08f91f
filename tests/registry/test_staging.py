"""Registering copies the version's files BEFORE the write transaction: a long copy blocks no other
writer (on SQLite the write lock is global), and a registration that fails leaves no objects."""

from __future__ import annotations

import threading

import requests

from tests.conftest import bearer
from tests.registry.helpers import FILES, create_model, register, training_run
from tether_server.errors import Unavailable
from tether_server.runtime import Runtime


def _registry_objects(app):
    return sorted(o.key for o in Runtime.of(app).store.list("registry/"))


def test_a_slow_copy_does_not_block_other_writers(app, client, auth, writer, live_server):
    run_id = training_run(client, auth)
    create_model(client, auth)
    store = Runtime.of(app).store
    real_copy, entered, release = store.copy, threading.Event(), threading.Event()

    def slow_copy(src, dst):
        entered.set()
        assert release.wait(30)
        return real_copy(src, dst)

    store.copy = slow_copy
    result = {}

    def reg():
        result["r"] = requests.post(
            f"{live_server}/api/v1/models/churn/versions",
            headers=bearer(writer[1]),
            json={"run_id": run_id, "artifact_path": "model"},
            timeout=60,
        )

    t = threading.Thread(target=reg)
    t.start()
    try:
        assert entered.wait(30)
        # While the copy is in progress, a training script logs metrics and a new run starts.
        r = requests.post(
            f"{live_server}/api/v1/runs/{run_id}/metrics",
            headers=bearer(writer[1]),
            json={"key": "during", "value": 1.0, "step": 1},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        other = training_run(client, auth, exp_name="other", files={"a.txt": b"a"})
        assert other
    finally:
        release.set()
        t.join(60)
        store.copy = real_copy
    assert result["r"].status_code == 201, result["r"].text
    assert result["r"].json()["version"] == 1
    for path, data in FILES.items():
        if path.startswith("model/"):
            got = client.get(
                f"/api/v1/models/churn/versions/1/files/{path.removeprefix('model/')}", headers=auth
            )
            assert got.status_code == 200 and got.data == data
    assert len(_registry_objects(app)) == 3


def test_failed_registration_removes_its_copies(app, client, auth, monkeypatch):
    run_id = training_run(client, auth)
    create_model(client, auth)
    store = Runtime.of(app).store
    real_copy, calls = store.copy, []

    def failing_copy(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise Unavailable("The artifact store is unavailable; retry later")  # what the store raises
        return real_copy(src, dst)

    monkeypatch.setattr(store, "copy", failing_copy)
    r = client.post(
        "/api/v1/models/churn/versions", headers=auth, json={"run_id": run_id, "artifact_path": "model"}
    )
    assert r.status_code == 503 and r.json["error"]["code"] == "UNAVAILABLE"
    assert _registry_objects(app) == []
    monkeypatch.setattr(store, "copy", real_copy)
    assert register(client, auth, "churn", run_id)["version"] == 1  # the number was not used up


def test_run_deleted_while_copying_fails_clearly_and_leaves_nothing(app, client, auth, monkeypatch):
    run_id = training_run(client, auth)
    create_model(client, auth)
    store = Runtime.of(app).store
    real_copy, deleted = store.copy, []

    def copy_then_delete_run(src, dst):
        out = real_copy(src, dst)
        if not deleted:
            deleted.append(True)
            assert client.delete(f"/api/v1/runs/{run_id}", headers=auth).status_code == 200
        return out

    monkeypatch.setattr(store, "copy", copy_then_delete_run)
    r = client.post(
        "/api/v1/models/churn/versions", headers=auth, json={"run_id": run_id, "artifact_path": "model"}
    )
    assert r.status_code == 409 and r.json["error"]["code"] == "FAILED_PRECONDITION"
    assert "deleted" in r.json["error"]["message"]
    assert _registry_objects(app) == []
    assert client.get("/api/v1/models/churn/versions", headers=auth).json["items"] == []
