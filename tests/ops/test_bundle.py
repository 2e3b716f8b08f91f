"""tether export / tether import: SQLite → PostgreSQL → SQLite yields the same data (canonical dump)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, Users, bearer, create_pg_database, drop_pg_database
from tests.registry.helpers import (
    FILES,
    add_dataset_input,
    create_model,
    grant,
    register,
    request_stage,
    training_run,
)
from tether_server import create_app
from tether_server.config import Settings
from tether_server.errors import AlreadyExists, InvalidArgument
from tether_server.runtime import Runtime
from tether_server.services.ops.bundle import MAPPED, TABLES, read_rows, refs_of, table
from tether_server.services.ops.bundle_export import export_bundle
from tether_server.services.ops.bundle_import import import_bundle

from .server_proc import run_cli, server_env


def make_app(url: str, store: Path, tmp: Path) -> Any:
    app = create_app(
        Settings(
            data_dir=str(tmp),
            database_url=url,
            artifact_uri=str(store),
            secret_key="k" * 16,
            webhook_worker=False,
            testing=True,
        ).validated()
    )
    app.config["TETHER_ACCESS_LOG"] = False
    return app


def populate(app: Any) -> None:
    c, users = app.test_client(), Users(app)
    _, wtok = users.create("wendy", "writer")
    rita, rtok = users.create("rita", "reviewer")
    w, r = bearer(wtok), bearer(rtok)
    rid = training_run(c, w, "churn-exp")
    child = c.post(
        "/api/v1/runs",
        headers=w,
        json={
            "experiment_id": c.get(f"/api/v1/runs/{rid}", headers=w).json["experiment_id"],
            "parent_run_id": rid,
            "name": "child",
            "tags": {"kind": "sweep"},
        },
    ).json["id"]
    pts = [{"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": 1000 + i} for i in range(300)]
    assert c.post(f"/api/v1/runs/{child}/batch", headers=w, json={"metrics": pts}).status_code == 200
    assert c.patch(f"/api/v1/runs/{child}", headers=w, json={"status": "FINISHED"}).status_code == 200
    dv = add_dataset_input(app, rid)
    # the run's explanation (computed on the dataset version) is copied to both versions
    expl = {
        "importances": {"age": 0.7, "plan": -0.2},
        "method": "shap",
        "dataset": {"dataset_version_id": dv},
    }
    assert c.put(f"/api/v1/runs/{rid}/explanation", headers=w, json=expl).status_code == 200
    grant(c, w, rita, create_model(c, w, "churn")["id"], "EDIT")
    register(c, w, "churn", rid)
    register(c, w, "churn", rid, description="second")
    # version metadata: v2's own explanation, v1's local-explanation sample and model-card text
    v2 = {"importances": {"age": 0.1, "plan": 0.6, "tenure": 0.3}, "method": "permutation"}
    assert c.put("/api/v1/models/churn/versions/2/explanation", headers=w, json=v2).status_code == 200
    hdr = {**w, "Content-Type": "application/vnd.apache.parquet"}
    up = c.put("/api/v1/models/churn/versions/1/explanation/local", headers=hdr, data=LOCAL_SAMPLE())
    assert up.status_code == 200, up.json
    card = {"intended_use": "Rank customers by churn risk.", "limitations": "Not for pricing."}
    assert c.put("/api/v1/models/churn/versions/1/card", headers=w, json=card).status_code == 200
    # a monitor definition (on a fixed reference dataset, with explicit importances)
    mon = {"name": "prod", "model": "churn", "stage": "Production", "reference": {"dataset_version_id": dv}}
    created = c.post(
        "/api/v1/monitors", headers=w, json={**mon, "importances": {"age": 1.0}, "window_seconds": 600}
    )
    assert created.status_code == 201, created.json
    request_stage(c, w, "churn", 1, "Staging")
    for v in (1, 2):
        req = request_stage(c, w, "churn", v, "Production")
        ok = c.post(
            f"/api/v1/transition-requests/{req['id']}/approve", headers=r, json={"comment": f"ok v{v}"}
        )
        assert ok.status_code == 200, ok.json
    assert c.put("/api/v1/models/churn/aliases/champion", headers=w, json={"version": 1}).status_code == 200
    pol = {"required_approvals": {"Production": 1, "Staging": 0}, "archive_existing_production": True}
    c.put("/api/v1/models/churn/policy", headers=r, json=pol)
    c.post("/api/v1/experiments", headers=w, json={"name": "not-exported"})


def LOCAL_SAMPLE() -> bytes:  # noqa: N802
    import tempfile

    from tether.explain import write_local_sample

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "local.parquet"
        n = 20
        write_local_sample(
            path,
            inputs={"age": list(range(n)), "plan": ["pro"] * n},
            attributions={"age": [0.1] * n, "plan": [-0.05] * n},
            predictions=[0.5] * n,
            row_ids=[f"r{i}" for i in range(n)],
        )
        return path.read_bytes()


def canonical(bundle: Path) -> dict[str, list[str]]:
    """Every exported row with surrogate ids replaced by their rank in the bundle, users by name, storage
    keys dropped (the sha256 stays) and the import marker removed: equal data compares equal."""
    rank = {name: {r["id"]: i for i, r in enumerate(read_rows(bundle, name))} for name in MAPPED}
    users = {r["id"]: r["name"] for r in read_rows(bundle, "users")}
    out: dict[str, list[str]] = {}
    for name in TABLES:
        t, rows = table(name), []
        refs = refs_of(t)
        for row in read_rows(bundle, name):
            if name in rank:
                row["id"] = rank[name][row["id"]]
            elif isinstance(row.get("id"), int):
                row.pop("id")
            for col, target in refs.items():
                if row.get(col) is not None and target in rank:
                    row[col] = users.get(row[col]) if target == "users" else rank[target][row[col]]
            row.pop("storage_key", None)
            row.pop("local_key", None)  # the object's sha256 (local_sha256) stays
            if name == "explanations" and (row.get("dataset") or {}).get("dataset_version_id") is not None:
                row["dataset"]["dataset_version_id"] = rank["dataset_versions"][
                    row["dataset"]["dataset_version_id"]
                ]
            if name == "registry_policies":
                row.pop("scope")
            if name == "audit_events":
                row["details"] = {k: v for k, v in row["details"].items() if k != "imported"}
                if row.get("resource_type") == "experiment":
                    row["resource_id"] = rank["experiments"].get(int(row["resource_id"]), row["resource_id"])
            rows.append(json.dumps(row, sort_keys=True))
        out[name] = sorted(rows)
    return out


@pytest.mark.postgres
def test_round_trip_sqlite_postgres_sqlite(tmp_path: Path, sqlite_template: Path, pg_template: Any) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL not available (set TETHER_TEST_PG_URL)")
    import shutil

    dbs = {n: tmp_path / f"{n}.db" for n in ("a", "c")}
    for p in dbs.values():
        shutil.copy(sqlite_template, p)
    pg = create_pg_database(template=pg_template)
    apps = []
    try:
        a = make_app(f"sqlite:///{dbs['a']}", tmp_path / "store-a", tmp_path / "da")
        b = make_app(pg, tmp_path / "store-b", tmp_path / "db")
        apps += [a, b]
        populate(a)
        rt_a, rt_b = Runtime.of(a), Runtime.of(b)
        with rt_a.database.transaction(write=False) as s:
            counts = export_bundle(s, rt_a.store, tmp_path / "b1", ["churn-exp"], ["churn"], "a")
        assert counts["metrics"] == 302 and counts["model_versions"] == 2 and counts["audit_events"] >= 6
        assert counts["explanations"] == 3 and counts["monitors"] == 1  # the run's, v1's copy, v2's
        assert not any("not-exported" in line for line in (tmp_path / "b1/tables/experiments.jsonl").open())
        with rt_b.database.transaction() as s:
            import_bundle(s, rt_b.store, tmp_path / "b1")
        with pytest.raises(AlreadyExists), rt_b.database.transaction() as s:  # names must be new
            import_bundle(s, rt_b.store, tmp_path / "b1")
        with rt_b.database.transaction(write=False) as s:
            export_bundle(s, rt_b.store, tmp_path / "b2", ["churn-exp"], ["churn"], "b")

        # C through the commands, as an operator runs them
        env = server_env(
            tmp_path / "dc",
            TETHER_DATABASE_URL=f"sqlite:///{dbs['c']}",
            TETHER_ARTIFACT_URI=str(tmp_path / "store-c"),
        )
        r = run_cli(["import", str(tmp_path / "b2")], env)
        assert r.returncode == 0, r.stderr
        r = run_cli(["export", "--experiment", "churn-exp", "--model", "churn", str(tmp_path / "b3")], env)
        assert r.returncode == 0, r.stderr

        one, two, three = (canonical(tmp_path / n) for n in ("b1", "b2", "b3"))
        assert one == two == three

        # the imported server serves the model: stage, alias, files verified by their sha256
        c = b.test_client()
        _, tok = Users(b).create("ops", "admin")
        prod = c.get("/api/v1/models/churn/stages/production", headers=bearer(tok)).json
        assert prod["version"] == 2
        assert c.get("/api/v1/models/churn/aliases/champion", headers=bearer(tok)).json["version"] == 1
        files = {f["path"]: f["sha256"] for f in prod["files"]}
        import hashlib

        assert files["weights.bin"] == hashlib.sha256(FILES["model/weights.bin"]).hexdigest()
        audit = c.get("/api/v1/audit?model=churn", headers=bearer(tok)).json["items"]
        approved = [e for e in audit if e["action"] == "model.transition_approved"]
        assert {e["actor_name"] for e in approved} == {
            "rita",
            "wendy",
        }  # the original actors, not the importer
        assert all(e["details"]["imported"]["from"] == "a" for e in audit)
        # version metadata arrived: explanations (v1's copied from the run, pointing at the imported
        # dataset version), the local sample byte for byte, the model card text; the monitor definition
        h = bearer(tok)
        e1 = c.get("/api/v1/models/churn/versions/1/explanation", headers=h).json
        assert e1["importances"] == {"age": 0.7, "plan": -0.2} and e1["source_run_id"] is not None
        assert e1["dataset"]["name"] == "churn-data" and e1["dataset"]["hash"] == "ab" * 32
        e2 = c.get("/api/v1/models/churn/versions/2/explanation", headers=h).json
        assert (e2["method"], e2["importances"]["plan"]) == ("permutation", 0.6)
        local = c.get("/api/v1/models/churn/versions/1/explanation/local", headers=h)
        src_sha = next(
            r["local_sha256"] for r in read_rows(tmp_path / "b1", "explanations") if r["local_key"]
        )
        assert local.status_code == 200 and hashlib.sha256(local.data).hexdigest() == src_sha
        assert e1["local_sample"]["sha256"] == src_sha and e1["local_sample"]["rows"] == 20
        card = c.get("/api/v1/models/churn/versions/1/card", headers=h).json
        assert (
            card["intended_use"] == "Rank customers by churn risk."
            and card["limitations"] == "Not for pricing."
        )
        (mon,) = c.get("/api/v1/monitors?model=churn", headers=h).json["items"]
        assert (mon["name"], mon["importances"], mon["window_seconds"]) == ("prod", {"age": 1.0}, 600)
        src_audit = {json.loads(x)["ts"] for x in (tmp_path / "b1/tables/audit_events.jsonl").open()}
        assert {e["ts"] for e in audit} <= src_audit  # original times kept
    finally:
        for app in apps:
            Runtime.of(app).close()
        drop_pg_database(pg)


def test_corrupt_bundle_and_empty_export_are_refused(app: Any, tmp_path: Path) -> None:
    populate(app)
    rt = Runtime.of(app)
    with rt.database.transaction(write=False) as s:
        export_bundle(s, rt.store, tmp_path / "b", ["churn-exp"], ["churn"], "x")
    obj = next((tmp_path / "b" / "objects").iterdir())
    obj.write_bytes(b"tampered")
    keys_before = {o.key for o in rt.store.list("")}
    with pytest.raises(InvalidArgument, match="missing or corrupt"), rt.database.transaction() as s:
        import_bundle(s, rt.store, tmp_path / "b")
    assert {o.key for o in rt.store.list("")} == keys_before  # no object copied
    with pytest.raises(InvalidArgument, match="Name at least one"), rt.database.transaction(write=False) as s:
        export_bundle(s, rt.store, tmp_path / "empty", [], [], "x")
