"""The SDK's artifacts and datasets end to end against the real app over HTTP (both databases).

Artifact transfers run on the local store and on S3: moto_server always, and a real S3 server
(Ceph RGW on CI) when TETHER_TEST_S3_ENDPOINT is set, so the presigned direct path is exercised."""

from __future__ import annotations

import csv
import hashlib
import os
import types
from pathlib import Path
from typing import Any

import pytest
import requests

import tether
from tests.artifacts.conftest import moto_endpoint, s3_settings  # noqa: F401  (session fixture)
from tether import AlreadyExistsError, ArtifactError, NotFoundError
from tether_server.runtime import Runtime

MiB = 1024 * 1024


@pytest.fixture(params=["local", "moto", pytest.param("real", marks=pytest.mark.s3)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Any:
    """The local store by default; the S3 store when the test asks for ``store_kind``."""
    from tether_server.config import Settings

    kind = request.getfixturevalue("store_kind") if "store_kind" in request.fixturenames else "local"
    store: dict[str, Any] = {"artifact_uri": str(tmp_path / "artifacts")}
    if kind != "local":
        store = s3_settings(kind, request.getfixturevalue("moto_endpoint"))
    return Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key="test-secret",
        testing=True,
        webhook_worker=False,
        **store,
    ).validated()


@pytest.fixture
def c(live_server, writer):
    with tether.Client(live_server, token=writer[1], progress=False) as client:
        client.artifacts.multipart_threshold = 4 * MiB  # small enough that the test files go in parts
        yield client


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(tmp_path: Path) -> dict[str, bytes]:
    files = {
        "report/summary.txt": b"auc 0.91\n",
        "weights.bin": os.urandom(20 * MiB + 3),
        "out/a.txt": b"a",
        "out/sub/b.json": b'{"b": 1}',
        "out/empty.bin": b"",
    }
    for rel, data in files.items():
        p = tmp_path / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def test_log_list_download_and_verify(c, store_kind, tmp_path):
    files = _files(tmp_path)
    src = tmp_path / "src"
    with tether.start_run(experiment="arts", client=c) as run:
        info = run.log_artifact(src / "report" / "summary.txt", artifact_path="reports")
        assert (info.path, info.size, info.sha256) == (
            "reports/summary.txt",
            9,
            _sha(files["report/summary.txt"]),
        )
        big = run.log_artifact(src / "weights.bin", artifact_path="model/")
        assert (big.path, big.size, big.sha256) == (
            "model/weights.bin",
            20 * MiB + 3,
            _sha(files["weights.bin"]),
        )
        logged = run.log_artifacts(src / "out", artifact_path="outputs")
        assert [a.path for a in logged] == ["outputs/a.txt", "outputs/empty.bin", "outputs/sub/b.json"]
        assert run.log_artifact(src / "weights.bin", "model").sha256 == big.sha256  # same bytes again: fine
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "summary.txt").write_bytes(b"different")
        with pytest.raises(AlreadyExistsError):
            run.log_artifact(tmp_path / "other" / "summary.txt", "reports")

    listed = list(c.artifacts.list(run.id))
    assert [a.path for a in listed] == [
        "model/weights.bin",
        "outputs/a.txt",
        "outputs/empty.bin",
        "outputs/sub/b.json",
        "reports/summary.txt",
    ]
    by_path = {a.path: a for a in listed}
    assert by_path["outputs/sub/b.json"].content_type == "application/json"
    assert by_path["reports/summary.txt"].content_type == "text/plain"
    assert by_path["model/weights.bin"].sha256 == _sha(files["weights.bin"])
    assert [a.path for a in c.artifacts.list(run.id, prefix="outputs/", page_size=2)] == [
        "outputs/a.txt",
        "outputs/empty.bin",
        "outputs/sub/b.json",
    ]

    dl = tmp_path / "dl"
    dl.mkdir()
    got = c.artifacts.download(run.id, "model/weights.bin", dl)
    assert got == dl / "weights.bin" and got.read_bytes() == files["weights.bin"]
    tree = c.artifacts.download(run.id, "outputs", tmp_path / "tree")
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()) == [
        "a.txt",
        "empty.bin",
        "sub/b.json",
    ]
    assert (tree / "sub" / "b.json").read_bytes() == b'{"b": 1}' and (tree / "empty.bin").read_bytes() == b""
    assert not list(tmp_path.rglob("*.part"))
    with pytest.raises(NotFoundError):
        c.artifacts.download(run.id, "nope.txt", dl)

    stats = c.artifacts.transfer().stats
    if store_kind == "local":  # no presigned URLs: parts and downloads go through the server
        assert stats["parts_proxy"] >= 2 and stats["parts_direct"] == 0 and stats["get_direct"] == 0
    else:  # the server advertises direct transfer: the bytes went to and from the store itself
        assert stats["parts_direct"] >= 2 and stats["parts_proxy"] == 0 and stats["direct_fallbacks"] == 0
        assert stats["get_direct"] >= 1 and stats["get_proxy"] == 0


def test_corrupted_download_raises_and_leaves_nothing(c, store_kind, app, tmp_path):
    data = os.urandom(6 * MiB)
    (tmp_path / "w.bin").write_bytes(data)
    with tether.start_run(experiment="tamper", client=c) as run:
        run.log_artifact(tmp_path / "w.bin")
    store = Runtime.of(app).store
    (obj,) = list(store.list(""))
    tampered = bytearray(data)
    tampered[12345] ^= 0xFF
    store.put_stream(obj.key, __import__("io").BytesIO(bytes(tampered)), len(tampered))
    with pytest.raises(ArtifactError, match="does not match"):
        c.artifacts.download(run.id, "w.bin", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("store_kind", ["moto"])
def test_unreachable_store_urls_fall_back_to_the_server(c, store_kind, tmp_path):
    """Presigned URLs the client cannot reach (e.g. an internal endpoint): parts and downloads go
    through the server instead, and the result still verifies."""
    data = os.urandom(12 * MiB + 1)
    (tmp_path / "f.bin").write_bytes(data)
    t = c.artifacts.transfer()

    def unreachable(*_a: Any, **_kw: Any) -> Any:
        raise requests.ConnectionError("store endpoint unreachable from here")

    t._rq = types.SimpleNamespace(
        put=unreachable,
        get=unreachable,
        ConnectionError=requests.ConnectionError,
        Timeout=requests.Timeout,
        RequestException=requests.RequestException,
    )
    with tether.start_run(experiment="fallback", client=c) as run:
        assert run.log_artifact(tmp_path / "f.bin").sha256 == _sha(data)
    assert c.artifacts.download(run.id, "f.bin", tmp_path / "back.bin").read_bytes() == data
    assert t.stats["direct_fallbacks"] >= 2 and t.stats["parts_proxy"] >= 1 and t.stats["parts_direct"] == 0
    assert t.stats["get_proxy"] == 1


# ---------------------------------------------------------------- datasets


def _csv(path: Path, n: int = 200) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["age", "plan", "score"])
        for i in range(n):
            w.writerow([20 + i % 50, ["basic", "pro", "team"][i % 3], "" if i % 10 == 0 else f"{i / 10:.1f}"])
    return path


def _root(manifest: list[dict[str, Any]]) -> str:
    h = hashlib.sha256(b"tether-dataset-v1\n")
    for f in sorted(manifest, key=lambda e: e["path"]):
        h.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return h.hexdigest()


def test_log_dataset_csv_and_read_it_back(c, tmp_path):
    path = _csv(tmp_path / "train.csv")
    with tether.start_run(experiment="ds", client=c) as run:
        v = run.log_dataset(path, name="churn", context="training")
    assert v["created"] is True and v["file_count"] == 1 and v["total_bytes"] == path.stat().st_size
    back = c.datasets.get_version("churn", v["root_hash"])
    assert back["manifest"] == [
        {"path": "train.csv", "size": path.stat().st_size, "sha256": _sha(path.read_bytes())}
    ]
    assert back["root_hash"] == _root(back["manifest"]) == v["root_hash"]
    assert back["schema"] == {
        "columns": [
            {"name": "age", "type": "int"},
            {"name": "plan", "type": "string"},
            {"name": "score", "type": "float"},
        ]
    }
    prof = back["profile"]
    assert prof["format"] == "tether.profile/1" and prof["rows"] == 200
    age = prof["columns"]["age"]
    assert (age["kind"], age["count"], age["nulls"], age["min"], age["max"]) == ("numeric", 200, 0, 20, 69)
    assert age["mean"] == pytest.approx(44.5) and sum(age["bin_counts"]) == 200 and len(age["bin_edges"]) == 9
    score = prof["columns"]["score"]
    assert (score["count"], score["nulls"]) == (180, 20)
    plan = prof["columns"]["plan"]
    assert plan["kind"] == "categorical" and sorted(plan["top"]) == [["basic", 67], ["pro", 67], ["team", 66]]
    assert plan["other"] == 0
    assert [d["name"] for d in c.datasets.list()] == ["churn"]
    assert [(i["name"], i["context"], i["root_hash"]) for i in c.datasets.inputs(run.id)] == [
        ("churn", "training", v["root_hash"])
    ]


def test_same_content_twice_reuses_the_version(c, tmp_path):
    path = _csv(tmp_path / "train.csv")
    with tether.start_run(experiment="ds", client=c) as r1:
        v1 = r1.log_dataset(path, name="churn")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "train.csv").write_bytes(path.read_bytes())  # same bytes, another place
    with tether.start_run(experiment="ds", client=c) as r2:
        v2 = r2.log_dataset(copy / "train.csv", name="churn", context="evaluation", profile=False)
        assert r2.log_dataset(copy / "train.csv", name="churn", context="evaluation")["created"] is False
    assert v1["created"] and not v2["created"] and v2["root_hash"] == v1["root_hash"]
    assert [v["root_hash"] for v in c.datasets.versions("churn")] == [v1["root_hash"]]
    uses = {(u["run_id"], u["context"]) for u in c.datasets.runs("churn", v1["root_hash"][:12])}
    assert uses == {(r1.id, "training"), (r2.id, "evaluation")}
    with pytest.raises(ValueError):
        c.datasets.log(r1.id, path, name="churn", context="production")


def test_log_dataset_directory_with_upload(c, tmp_path):
    root = tmp_path / "data"
    (root / "parts").mkdir(parents=True)
    _csv(root / "parts" / "a.csv", 30)
    (root / "README.txt").write_bytes(b"two files")
    with tether.start_run(experiment="ds", client=c) as run:
        v = run.log_dataset(root, name="events", upload=True)
    assert [f["path"] for f in v["manifest"]] == ["README.txt", "parts/a.csv"]
    assert v["source"] == f"runs:/{run.id}/datasets/events" and v["profile"]["rows"] == 30
    arts = {a.path: a.sha256 for a in c.artifacts.list(run.id, prefix="datasets/events/")}
    assert arts == {f"datasets/events/{f['path']}": f["sha256"] for f in v["manifest"]}
    v2 = c.datasets.log(run.id, root, name="events", profile=False)  # no upload: just the hash
    assert v2["root_hash"] == v["root_hash"] and not v2["created"]


def test_download_destination_rule(c, tmp_path, caplog, monkeypatch):
    """A trailing slash or an existing folder means "into"; anything else is the file to write."""
    src = tmp_path / "big.bin"
    src.write_bytes(b"weights" * 100)
    with tether.start_run(experiment="dest", client=c) as run:
        run.log_artifact(src, artifact_path="model")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("INFO", logger="tether._artifacts"):
        into_new = c.artifacts.download(run.id, "model/big.bin", "dl/")  # no such folder yet: created
    assert into_new == Path("dl/big.bin") and into_new.read_bytes() == src.read_bytes()
    assert any("wrote dl/big.bin (700 bytes)" in r.getMessage() for r in caplog.records)
    (tmp_path / "existing").mkdir()
    assert c.artifacts.download(run.id, "model/big.bin", "existing") == Path("existing/big.bin")
    as_file = c.artifacts.download(run.id, "model/big.bin", "renamed.bin")
    assert as_file == Path("renamed.bin") and as_file.is_file() and as_file.stat().st_size == 700
