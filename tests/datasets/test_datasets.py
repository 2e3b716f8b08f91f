"""Dataset hashing, profiles and the datasets API (versions, runs using a version, diffs)."""

from __future__ import annotations

import csv
import hashlib
import math
import statistics

import pytest
import requests

from tests.conftest import bearer
from tether._datasets import PROFILE_FORMAT, log_dataset, manifest, merkle_root, profile_csv
from tether_server.services.artifacts.datasets import merkle_root as server_root


def _tree(tmp_path, files):
    root = tmp_path / "data"
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return root


def test_manifest_and_root_are_exact_and_order_independent(tmp_path):
    root = _tree(tmp_path, {"b.txt": b"bee", "a/x.bin": b"\x00" * 10, "a/y.bin": b"why"})
    m = manifest(root)
    assert [e["path"] for e in m] == ["a/x.bin", "a/y.bin", "b.txt"]
    assert m[2] == {"path": "b.txt", "size": 3, "sha256": hashlib.sha256(b"bee").hexdigest()}
    assert merkle_root(m) == merkle_root(list(reversed(m))) == server_root(m)
    (root / "b.txt").write_bytes(b"bee!")
    assert merkle_root(manifest(root)) != merkle_root(m)


def test_csv_profile(tmp_path):
    path = tmp_path / "t.csv"
    xs = [float(i) for i in range(1, 101)]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "color", "n"])
        for i, x in enumerate(xs):
            w.writerow([x, ["red", "green", "blue"][i % 3], "" if i % 10 == 0 else i])
    schema, prof = profile_csv(path)
    assert prof["format"] == PROFILE_FORMAT and prof["rows"] == 100
    assert schema["columns"] == [
        {"name": "x", "type": "float"},
        {"name": "color", "type": "string"},
        {"name": "n", "type": "int"},
    ]
    x = prof["columns"]["x"]
    assert x["count"] == 100 and x["nulls"] == 0 and x["min"] == 1 and x["max"] == 100
    assert math.isclose(x["mean"], statistics.mean(xs))
    assert math.isclose(math.sqrt(x["m2"] / 99), statistics.stdev(xs))
    assert len(x["bin_edges"]) == 9 and sum(x["bin_counts"]) == 100 and x["bin_counts"] == [10] * 10
    assert prof["columns"]["n"]["nulls"] == 10
    c = prof["columns"]["color"]
    assert (
        c["kind"] == "categorical"
        and dict(c["top"]) == {"red": 34, "green": 33, "blue": 33}
        and c["other"] == 0
    )


def test_parquet_profile(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from tether._datasets import profile_parquet

    pq.write_table(pa.table({"v": list(range(20)), "s": ["a"] * 15 + ["b"] * 5}), tmp_path / "t.parquet")
    schema, prof = profile_parquet(tmp_path / "t.parquet")
    assert prof["columns"]["v"]["count"] == 20 and dict(prof["columns"]["s"]["top"]) == {"a": 15, "b": 5}
    assert schema["columns"][0]["arrow_type"] == "int64"


@pytest.fixture
def sdk_http(writer):
    s = requests.Session()
    s.headers.update(bearer(writer[1]))
    return s


def _run(client, auth, name="ds"):
    eid = client.post("/api/v1/experiments", json={"name": name}, headers=auth).json["id"]
    return client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]


def test_log_reuse_runs_and_diff(client, auth, live_server, sdk_http, tmp_path, users):
    root = _tree(tmp_path, {"train.csv": b"a,b\n1,x\n2,y\n", "extra/notes.txt": b"v1"})
    r1, r2 = _run(client, auth, "e1"), _run(client, auth, "e2")
    v1 = log_dataset(sdk_http, live_server, r1, root, name="churn", context="training")
    assert v1["created"] and v1["file_count"] == 2 and v1["profile"]["format"] == PROFILE_FORMAT
    again = log_dataset(sdk_http, live_server, r2, root, name="churn", context="evaluation")
    assert not again["created"] and again["root_hash"] == v1["root_hash"]
    (root / "train.csv").write_bytes(b"a,b\n1,x\n2,z\n")
    (root / "extra" / "notes.txt").unlink()
    (root / "new.txt").write_bytes(b"n")
    v2 = log_dataset(sdk_http, live_server, r2, root, name="churn", profile=False)
    assert v2["created"] and v2["profile"] is None
    assert [d["name"] for d in client.get("/api/v1/datasets", headers=auth).json["items"]] == ["churn"]
    vs = client.get("/api/v1/datasets/churn/versions", headers=auth).json["items"]
    assert [v["root_hash"] for v in vs] == [v1["root_hash"], v2["root_hash"]]
    used = client.get(f"/api/v1/datasets/churn/versions/{v1['root_hash']}/runs", headers=auth).json["items"]
    assert {(u["run_id"], u["context"]) for u in used} == {(r1, "training"), (r2, "evaluation")}
    d = client.get(
        "/api/v1/datasets/churn/diff",
        query_string={"from": v1["root_hash"], "to": v2["root_hash"]},
        headers=auth,
    ).json
    assert [f["path"] for f in d["added"]] == ["new.txt"]
    assert [f["path"] for f in d["removed"]] == ["extra/notes.txt"]
    assert [f["path"] for f in d["changed"]] == ["train.csv"]
    inputs = client.get(f"/api/v1/runs/{r2}/inputs", headers=auth).json["items"]
    assert {i["context"] for i in inputs} == {"evaluation", "training"}
    _uid, other = users.create("otto", "writer")
    assert (
        client.get(
            f"/api/v1/datasets/churn/versions/{v1['root_hash']}/runs", headers=bearer(other)
        ).status_code
        == 404
    )  # not visible to another team at all


@pytest.mark.parametrize(
    "body,status",
    [
        ({"name": "d", "manifest": []}, 400),
        ({"name": "d", "manifest": [{"path": "../x", "sha256": "0" * 64, "size": 1}]}, 400),
        ({"name": "d", "manifest": [{"path": "x", "sha256": "zz", "size": 1}]}, 400),
        (
            {"name": "d", "manifest": [{"path": "x", "sha256": "0" * 64, "size": 1}], "root_hash": "1" * 64},
            400,
        ),
        ({"name": "d", "context": "prod", "manifest": [{"path": "x", "sha256": "0" * 64, "size": 1}]}, 400),
    ],
)
def test_bad_dataset_input(client, auth, body, status):
    r = client.post(f"/api/v1/runs/{_run(client, auth)}/datasets", json=body, headers=auth)
    assert r.status_code == status and r.json["error"]["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("name", ["a/b", "a\\b", "tab\tname", " padded", "..", "x" * 251])
def test_dataset_names_must_be_one_url_segment(client, auth, name):
    """Every dataset route addresses the name as one path segment, so a name that is not one
    would be stored but never readable again: refuse it when logging, and store nothing."""
    run = _run(client, auth)
    body = {"name": name, "manifest": [{"path": "x", "sha256": "0" * 64, "size": 1}]}
    r = client.post(f"/api/v1/runs/{run}/datasets", json=body, headers=auth)
    assert r.status_code == 400 and "name" in str(r.json["error"]["details"])
    assert client.get("/api/v1/datasets", headers=auth).json["items"] == []
    ok = client.post(f"/api/v1/runs/{run}/datasets", json={**body, "name": "churn v2.1 (EU)"}, headers=auth)
    assert ok.status_code == 201
    got = client.get("/api/v1/datasets/churn%20v2.1%20(EU)/versions", headers=auth)
    assert got.status_code == 200 and len(got.json["items"]) == 1
