"""Dataset names, versions and manifests do not leak across teams: a version is visible to whoever
can read a run that used it (or created it); admins see everything."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import bearer


def _manifest(*contents: bytes) -> list[dict]:
    return [
        {"path": f"f{i}.csv", "sha256": hashlib.sha256(c).hexdigest(), "size": len(c)}
        for i, c in enumerate(contents)
    ]


@pytest.fixture
def teams(client, users):
    """Two writers, each with their own experiment and run (default permission: NONE)."""
    out = {}
    for who in ("ann", "ben"):
        uid, token = users.create(who, "writer")
        h = bearer(token)
        eid = client.post("/api/v1/experiments", json={"name": f"exp-{who}"}, headers=h).json["id"]
        rid = client.post("/api/v1/runs", json={"experiment_id": eid}, headers=h).json["id"]
        out[who] = {"id": uid, "h": h, "exp": eid, "run": rid}
    return out


def _log(client, team, name, *contents):
    r = client.post(
        f"/api/v1/runs/{team['run']}/datasets",
        headers=team["h"],
        json={"name": name, "manifest": _manifest(*contents), "source": f"/home/{name}"},
    )
    assert r.status_code == 201, r.json
    return r.json["root_hash"]


def _names(client, h):
    return [d["name"] for d in client.get("/api/v1/datasets", headers=h).json["items"]]


def test_datasets_and_versions_are_scoped_to_readable_runs(client, teams, admin_token):
    ann, ben = teams["ann"], teams["ben"]
    va = _log(client, ann, "churn", b"ann's rows")
    vb = _log(client, ben, "churn", b"ben's rows")  # same name, other content, other team
    _log(client, ben, "fraud", b"secret")
    assert _names(client, ann["h"]) == ["churn"]
    assert _names(client, ben["h"]) == ["churn", "fraud"]
    assert _names(client, bearer(admin_token)) == ["churn", "fraud"]

    def versions(h, name="churn"):
        r = client.get(f"/api/v1/datasets/{name}/versions", headers=h)
        return r.status_code, [v["root_hash"] for v in r.json.get("items", [])]

    assert versions(ann["h"]) == (200, [va])
    assert versions(ben["h"]) == (200, [vb])
    assert versions(bearer(admin_token)) == (200, [va, vb])
    assert versions(ann["h"], "fraud")[0] == 404
    # ann cannot read ben's version (full hash or prefix), its runs, or a diff involving it
    for url in (
        f"/api/v1/datasets/churn/versions/{vb}",
        f"/api/v1/datasets/churn/versions/{vb[:10]}",
        f"/api/v1/datasets/churn/versions/{vb}/runs",
        f"/api/v1/datasets/fraud/versions/{vb}",
    ):
        r = client.get(url, headers=ann["h"])
        assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND", url
    r = client.get("/api/v1/datasets/churn/diff", query_string={"from": va, "to": vb}, headers=ann["h"])
    assert r.status_code == 404
    assert client.get(f"/api/v1/datasets/churn/versions/{va}", headers=ann["h"]).json["manifest"]
    r = client.get(
        "/api/v1/datasets/churn/diff", query_string={"from": va, "to": vb}, headers=bearer(admin_token)
    )
    assert r.status_code == 200 and [c["path"] for c in r.json["changed"]] == ["f0.csv"]


def test_a_read_grant_opens_the_other_teams_versions(client, teams):
    ann, ben = teams["ann"], teams["ben"]
    vb = _log(client, ben, "churn", b"ben's rows")
    assert _names(client, ann["h"]) == []
    grant = {
        "user_id": ann["id"],
        "resource_type": "experiment",
        "resource_id": str(ben["exp"]),
        "level": "READ",
    }
    assert client.put("/api/v1/permissions", json=grant, headers=ben["h"]).status_code == 200
    assert _names(client, ann["h"]) == ["churn"]
    r = client.get(f"/api/v1/datasets/churn/versions/{vb}", headers=ann["h"])
    assert r.status_code == 200 and r.json["root_hash"] == vb
    uses = client.get(f"/api/v1/datasets/churn/versions/{vb}/runs", headers=ann["h"]).json["items"]
    assert [u["run_id"] for u in uses] == [ben["run"]]


def test_the_creator_keeps_seeing_a_version_and_reuse_links_it_for_the_other_team(client, teams):
    ann, ben = teams["ann"], teams["ben"]
    va = _log(client, ann, "shared", b"public data")
    assert _names(client, ben["h"]) == []
    assert _log(client, ben, "shared", b"public data") == va  # same content: the version is reused
    assert _names(client, ben["h"]) == ["shared"]  # ben's run uses it now
    uses = client.get(f"/api/v1/datasets/shared/versions/{va}/runs", headers=ben["h"]).json["items"]
    assert [u["run_id"] for u in uses] == [ben["run"]]  # ann's run stays hidden from ben
