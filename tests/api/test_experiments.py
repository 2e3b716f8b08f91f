from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, new_experiment


def test_create_get_list_update_delete(client, auth):
    eid = new_experiment(client, auth, "churn", description="d", tags={"team": "growth"})
    got = client.get(f"/api/v1/experiments/{eid}", headers=auth).json
    assert got["name"] == "churn" and got["tags"] == {"team": "growth"} and got["lifecycle"] == "active"
    r = client.patch(
        f"/api/v1/experiments/{eid}", json={"description": "new", "tags": {"x": "1"}}, headers=auth
    )
    assert (
        r.status_code == 200
        and r.json["description"] == "new"
        and r.json["tags"] == {"team": "growth", "x": "1"}
    )
    listed = client.get("/api/v1/experiments", headers=auth).json
    assert [e["id"] for e in listed["items"]] == [eid] and listed["next_page_token"] is None
    assert client.delete(f"/api/v1/experiments/{eid}", headers=auth).json["lifecycle"] == "deleted"
    assert client.get("/api/v1/experiments", headers=auth).json["items"] == []
    deleted = client.get("/api/v1/experiments?lifecycle=deleted", headers=auth).json["items"]
    assert [e["id"] for e in deleted] == [eid]
    # a deleted experiment takes no new runs
    r = client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth)
    assert_error(r, 409, "FAILED_PRECONDITION")
    r = client.patch(f"/api/v1/experiments/{eid}", json={"lifecycle": "active"}, headers=auth)
    assert r.json["lifecycle"] == "active"


def test_duplicate_name_conflicts(client, auth):
    new_experiment(client, auth, "dup")
    assert_error(
        client.post("/api/v1/experiments", json={"name": "dup"}, headers=auth), 409, "ALREADY_EXISTS"
    )


def test_lookup_by_name_and_paging(client, auth):
    ids = [new_experiment(client, auth, f"e{i}") for i in range(5)]
    assert client.get("/api/v1/experiments?name=e3", headers=auth).json["items"][0]["id"] == ids[3]
    seen, token = [], None
    while True:
        q = "/api/v1/experiments?max_results=2" + (f"&page_token={token}" if token else "")
        page = client.get(q, headers=auth).json
        seen += [e["id"] for e in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == ids
    assert_error(client.get("/api/v1/experiments?page_token=garbage", headers=auth), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "a" * 300},
        {"name": "ok", "tags": "x"},
        {"name": "ok", "bogus": 1},
        {"name": "bad\x00name"},
        {"name": "../x"},
    ],
)
def test_bad_create_bodies(client, auth, body):
    assert_error(client.post("/api/v1/experiments", json=body, headers=auth), 400, "INVALID_ARGUMENT")


def test_unknown_experiment(client, auth):
    assert_error(client.get("/api/v1/experiments/999999", headers=auth), 404, "NOT_FOUND")
