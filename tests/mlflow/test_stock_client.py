"""The stock MLflow client (its own virtualenv) logs into a live Tether server on SQLite and
PostgreSQL; every assertion on what landed is made through Tether's own /api/v1."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from tests.conftest import Users, bearer
from tests.mlflow.conftest import run_mlflow

TRACKING = """
import math, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

exp_id = mlflow.set_experiment("compat").experiment_id
assert mlflow.set_experiment("compat").experiment_id == exp_id  # found by name the second time
OUT["experiment_id"] = exp_id
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_params({"lr": 0.1, "depth": 6})
    mlflow.set_tags({"team": "growth"})
    for step in range(20):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metric("weird", float("nan"))
    mlflow.log_metric("big", float("inf"))
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("acc", 0.9)
    ts = int(time.time() * 1000)
    MlflowClient().log_batch(
        parent.info.run_id,
        metrics=[Metric("batch", float(i), ts, i) for i in range(1000)],
        params=[Param("opt", "adam")],
        tags=[RunTag("stage", "dev")],
    )
    OUT["parent"], OUT["child"] = parent.info.run_id, child.info.run_id
    OUT["artifact_uri"] = parent.info.artifact_uri
client = MlflowClient()
run = client.get_run(OUT["parent"])
OUT["status"] = run.info.status
OUT["run_name"] = run.info.run_name
OUT["params"] = run.data.params
OUT["team"] = run.data.tags.get("team")
OUT["weird_is_nan"] = math.isnan(run.data.metrics["weird"])
OUT["big"] = str(run.data.metrics["big"])
OUT["loss"] = [[m.step, m.value] for m in client.get_metric_history(OUT["parent"], "loss")]
OUT["batch_points"] = len(client.get_metric_history(OUT["parent"], "batch"))
OUT["missing_points"] = len(client.get_metric_history(OUT["parent"], "no-such-metric"))
OUT["search_acc"] = [r.info.run_id for r in client.search_runs([exp_id], "metrics.acc > 0.5")]
OUT["search_param"] = [r.info.run_id for r in client.search_runs([exp_id], "params.depth = '6'")]
OUT["by_name"] = [r.info.run_id for r in client.search_runs([exp_id], "attributes.run_name = 'child'")]
OUT["by_name_tag"] = [r.info.run_id for r in client.search_runs([exp_id], "tags.`mlflow.runName` = 'child'")]
OUT["by_parent_tag"] = [
    r.info.run_id for r in client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{OUT['parent']}'")
]
OUT["by_status"] = len(client.search_runs([exp_id], "attributes.status = 'FINISHED' AND metrics.acc >= 0.9"))
OUT["ordered_by_tag"] = [
    r.info.run_name for r in client.search_runs([exp_id], order_by=["tags.mlflow.runName ASC"])
]
OUT["ordered"] = [r.info.run_name for r in client.search_runs([exp_id], order_by=["attributes.run_name DESC"])]
page1 = client.search_runs([exp_id], max_results=1)
page2 = client.search_runs([exp_id], max_results=1, page_token=page1.token)
OUT["pages"] = [page1[0].info.run_id, page2[0].info.run_id, page2.token]
try:
    client.search_runs([exp_id], "metrics.acc >")
except MlflowException as e:
    OUT["bad_filter"] = e.error_code
client.delete_run(OUT["child"])
OUT["deleted_stage"] = client.get_run(OUT["child"]).info.lifecycle_stage
OUT["after_delete"] = [r.info.run_id for r in client.search_runs([exp_id])]
client.restore_run(OUT["child"])
OUT["after_restore"] = sorted(r.info.run_id for r in client.search_runs([exp_id]))
OUT["found_exp"] = [e.name for e in client.search_experiments(filter_string="name = 'compat'")]
tmp = client.create_experiment("compat-tmp", tags={"k": "v"})
client.delete_experiment(tmp)
OUT["tmp_stage"] = client.get_experiment(tmp).lifecycle_stage
try:
    client.create_experiment("compat")
except MlflowException as e:
    OUT["duplicate"] = e.error_code
with mlflow.start_run(experiment_id="0") as d:  # MLflow's default experiment
    OUT["default_experiment"] = d.info.experiment_id
"""


def test_tracking_round_trip(mlflow_python: Path, live_server: str, users: Users) -> None:
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, TRACKING)
    api = requests.Session()
    api.headers.update(bearer(token))
    parent, child, exp_id = out["parent"], out["child"], int(out["experiment_id"])

    assert out["status"] == "FINISHED" and out["run_name"] == "parent"
    assert out["params"] == {"lr": "0.1", "depth": "6", "opt": "adam"} and out["team"] == "growth"
    assert out["weird_is_nan"] and out["big"] == "inf"
    assert out["loss"] == [[s, 1.0 / (s + 1)] for s in range(20)]
    assert out["batch_points"] == 1000 and out["missing_points"] == 0
    assert out["search_acc"] == [child] and out["search_param"] == [parent] and out["by_name"] == [child]
    assert out["ordered"] == ["parent", "child"]
    # MLflow keeps the name in the mlflow.runName tag; Tether searches it as the name attribute.
    assert out["by_name_tag"] == [child] and out["by_parent_tag"] == [child] and out["by_status"] == 1
    assert out["ordered_by_tag"] == ["child", "parent"]
    assert {out["pages"][0], out["pages"][1]} == {parent, child} and out["pages"][2] is None
    assert out["bad_filter"] == "INVALID_PARAMETER_VALUE"
    assert out["deleted_stage"] == "deleted" and out["after_delete"] == [parent]
    assert out["after_restore"] == sorted([parent, child])
    assert out["found_exp"] == ["compat"] and out["tmp_stage"] == "deleted"
    assert out["duplicate"] == "RESOURCE_ALREADY_EXISTS"
    assert out["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{parent}/artifacts"

    # The same rows, seen through Tether's own API.
    run = api.get(f"{live_server}/api/v1/runs/{parent}").json()
    assert run["experiment_id"] == exp_id and run["name"] == "parent" and run["status"] == "FINISHED"
    assert run["params"] == {"lr": "0.1", "depth": "6", "opt": "adam"}
    assert run["tags"]["team"] == "growth" and run["tags"]["stage"] == "dev"
    assert api.get(f"{live_server}/api/v1/runs/{child}").json()["parent_run_id"] == parent
    loss = api.get(f"{live_server}/api/v1/runs/{parent}/metrics/loss").json()["items"]
    assert [p["step"] for p in loss] == list(range(20))
    batch = api.get(f"{live_server}/api/v1/runs/{parent}/metrics/batch", params={"max_results": 5000}).json()
    assert len(batch["items"]) == 1000
    found = api.post(
        f"{live_server}/api/v1/runs/search", json={"experiment_ids": [exp_id], "filter": "metrics.acc > 0.5"}
    ).json()
    assert [r["id"] for r in found["items"]] == [child]
    default = api.get(f"{live_server}/api/v1/experiments/{int(out['default_experiment'])}").json()
    assert default["name"] == "Default"


ARTIFACTS = """
import hashlib, os, tempfile
import mlflow
from mlflow import MlflowClient

src = tempfile.mkdtemp()
os.makedirs(os.path.join(src, "model", "sub"))
with open(os.path.join(src, "hello.txt"), "w") as f:
    f.write("hello tether")
with open(os.path.join(src, "model", "MLmodel"), "w") as f:
    f.write("flavors: {}\\n")
blob = os.urandom(300_000)
with open(os.path.join(src, "model", "sub", "weights.bin"), "wb") as f:
    f.write(blob)
OUT["sha"] = hashlib.sha256(blob).hexdigest()
mlflow.set_experiment("compat-artifacts")
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(src, "hello.txt"))
    mlflow.log_artifacts(os.path.join(src, "model"), "model")
    mlflow.log_dict({"a": 1}, "cfg/params.json")
OUT["run_id"] = run.info.run_id
client = MlflowClient()
OUT["root"] = sorted((a.path, a.is_dir) for a in client.list_artifacts(run.info.run_id))
OUT["model"] = sorted((a.path, a.is_dir, a.file_size) for a in client.list_artifacts(run.info.run_id, "model"))
OUT["missing"] = [a.path for a in client.list_artifacts(run.info.run_id, "nothing-here")]
dst = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model", dst_path=tempfile.mkdtemp())
with open(os.path.join(dst, "sub", "weights.bin"), "rb") as f:
    OUT["downloaded_sha"] = hashlib.sha256(f.read()).hexdigest()
OUT["text"] = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/hello.txt")

mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", "compat-model")
OUT["version"] = mv.version
client.set_registered_model_alias("compat-model", "champion", mv.version)
OUT["by_alias"] = client.get_model_version_by_alias("compat-model", "champion").version
got = mlflow.artifacts.download_artifacts("models:/compat-model@champion", dst_path=tempfile.mkdtemp())
with open(os.path.join(got, "sub", "weights.bin"), "rb") as f:
    OUT["model_sha"] = hashlib.sha256(f.read()).hexdigest()
client.set_model_version_tag("compat-model", mv.version, "validated", "yes")
client.update_registered_model("compat-model", description="from mlflow")
OUT["staging"] = client.transition_model_version_stage("compat-model", mv.version, "Staging").current_stage
try:
    client.transition_model_version_stage("compat-model", mv.version, "Production")
except mlflow.exceptions.MlflowException as e:
    OUT["production_error"] = [e.error_code, e.message]
OUT["latest"] = [(v.version, v.current_stage) for v in client.get_latest_versions("compat-model", stages=["Staging"])]
OUT["models"] = [m.name for m in client.search_registered_models(filter_string="name = 'compat-model'")]
model = client.get_registered_model("compat-model")
OUT["model_description"] = model.description
OUT["aliases"] = dict(model.aliases)
versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
OUT["versions"] = [(v.name, v.version, v.tags) for v in versions]
v2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "compat-model")
OUT["version2"] = v2.version
"""


def test_artifacts_and_registry(mlflow_python: Path, live_server: str, users: Users) -> None:
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, ARTIFACTS)
    api = requests.Session()
    api.headers.update(bearer(token))
    run_id = out["run_id"]

    assert out["root"] == [["cfg", True], ["hello.txt", False], ["model", True]]
    assert out["model"] == [["model/MLmodel", False, 12], ["model/sub", True, None]]
    assert out["missing"] == []
    assert out["downloaded_sha"] == out["sha"] and out["text"] == "hello tether"
    blob = api.get(f"{live_server}/api/v1/runs/{run_id}/artifacts/model/sub/weights.bin")
    assert blob.status_code == 200 and hashlib.sha256(blob.content).hexdigest() == out["sha"]

    # Registry: the version holds a copy of the files, aliases and stages follow Tether's rules.
    assert out["version"] == "1" and out["version2"] == "2" and out["by_alias"] == "1"
    assert out["model_sha"] == out["sha"]
    assert out["staging"] == "Staging" and out["latest"] == [["1", "Staging"]]
    code, message = out["production_error"]
    assert code == "PERMISSION_DENIED" and "transition request" in message
    assert out["models"] == ["compat-model"] and out["model_description"] == "from mlflow"
    assert out["aliases"] == {"champion": "1"}
    assert [(n, v) for n, v, _t in out["versions"]] == [("compat-model", "1")]
    assert out["versions"][0][2] == {"validated": "yes"}

    version = api.get(f"{live_server}/api/v1/models/compat-model/versions/1").json()
    assert version["run_id"] == run_id and version["stage"] == "Staging"
    assert {f["path"]: f["sha256"] for f in version["files"]}["sub/weights.bin"] == out["sha"]
    pending = api.get(f"{live_server}/api/v1/transition-requests", params={"model": "compat-model"}).json()
    assert [(r["version"], r["to_stage"], r["status"]) for r in pending["items"]] == [
        (1, "Production", "pending")
    ]
    assert f"transition request {pending['items'][0]['id']}" in message


def test_approved_request_moves_the_stage(
    mlflow_python: Path, live_server: str, users: Users, admin_token: str
) -> None:
    """After a reviewer approves the request MLflow's transition-stage opened, the stock client sees
    the version in the stage (the review flow is Tether's own)."""
    _uid, token = users.create("mara", "writer")
    script = """
import os, tempfile
import mlflow
from mlflow import MlflowClient
d = tempfile.mkdtemp()
open(os.path.join(d, "MLmodel"), "w").write("x")
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(d, "MLmodel"), "model")
mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", "governed")
try:
    MlflowClient().transition_model_version_stage("governed", mv.version, INPUT["stage"])
except mlflow.exceptions.MlflowException as e:
    OUT["code"] = e.error_code
"""
    out = run_mlflow(mlflow_python, live_server, token, script, stage="Production")
    assert out == {"code": "PERMISSION_DENIED"}
    api = requests.Session()
    api.headers.update(bearer(token))
    (req,) = api.get(f"{live_server}/api/v1/transition-requests", params={"model": "governed"}).json()[
        "items"
    ]
    resp = requests.post(
        f"{live_server}/api/v1/transition-requests/{req['id']}/approve",
        json={"comment": "checked"},
        headers=bearer(admin_token),
    )
    assert resp.status_code == 200, resp.text
    check = (
        "import mlflow\nOUT['stage'] = mlflow.MlflowClient().get_model_version('governed', '1').current_stage"
    )
    assert run_mlflow(mlflow_python, live_server, token, check) == {"stage": "Production"}


SKLEARN = """
import json
import numpy as np
from sklearn.linear_model import LinearRegression
import mlflow
import mlflow.sklearn
from mlflow import MlflowClient

X = np.arange(20, dtype=float).reshape(10, 2)
y = X @ np.array([1.0, 2.0]) + 3.0
import pandas as pd
data = mlflow.data.from_pandas(pd.DataFrame(X, columns=["a", "b"]), source="/data/churn.csv", name="churn-data")
OUT["digest"] = data.digest
mlflow.set_experiment("compat-sklearn")
with mlflow.start_run() as run:
    mlflow.log_input(data, context="training")
    mlflow.log_input(data, context="eval")
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, y), name="model", registered_model_name="sk")
OUT["run_id"] = run.info.run_id
OUT["model_id"] = info.model_id
client = MlflowClient()
got = client.get_run(run.info.run_id).inputs.dataset_inputs
OUT["inputs"] = sorted(
    [d.dataset.name, d.dataset.digest, d.dataset.source_type, [t.value for t in d.tags]] for d in got
)
OUT["schema"] = [c["name"] for c in json.loads(got[0].dataset.schema)["mlflow_colspec"]]
OUT["profile"] = json.loads(got[0].dataset.profile)
OUT["searched_inputs"] = len(client.search_runs([run.info.experiment_id])[0].inputs.dataset_inputs)
OUT["model_files"] = [(a.path, a.is_dir) for a in client.list_artifacts(run.info.run_id, "model")]
OUT["root_files"] = [a.path for a in client.list_artifacts(run.info.run_id)]
OUT["by_name"] = [m.name for m in client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'model'")]
OUT["other_name"] = len(client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'nope'"))
OUT["logged"] = [m.model_id for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])]
client.set_registered_model_alias("sk", "champion", "1")
OUT["by_alias"] = mlflow.pyfunc.load_model("models:/sk@champion").predict(X[:3]).tolist()
OUT["by_model_uri"] = mlflow.pyfunc.load_model(info.model_uri).predict(X[:3]).tolist()
OUT["by_run_uri"] = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(X[:3]).tolist()
"""


def test_sklearn_log_model_register_and_load(mlflow_python: Path, live_server: str, users: Users) -> None:
    """MLflow 3's flavor log_model (a logged model) + registered_model_name, then pyfunc loads by
    alias, by model URI and by run URI: every prediction equals the fitted line."""
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, SKLEARN)
    expected = [3.0 + 1.0 * (2 * i) + 2.0 * (2 * i + 1) for i in range(3)]
    for key in ("by_alias", "by_model_uri", "by_run_uri"):
        assert out[key] == pytest.approx(expected), key
    assert out["logged"] == [out["model_id"]]
    assert out["by_name"] == ["model"] and out["other_name"] == 0
    # Each file of the logged model is listed once (through the logged model, as MLflow's server
    # keeps it outside the run), and a run folder uploaded with log_artifacts stays a plain folder.
    paths = [p for p, _is_dir in out["model_files"]]
    assert "model/MLmodel" in paths and len(paths) == len(set(paths))
    assert "model" not in out["root_files"]
    # log_input: one Tether dataset version (content-keyed on MLflow's digest), two run inputs.
    digest = out["digest"]
    assert out["inputs"] == [
        ["churn-data", digest, "local", ["evaluation"]],
        ["churn-data", digest, "local", ["training"]],
    ]
    assert out["schema"] == ["a", "b"] and out["profile"]["num_rows"] == 10
    assert out["searched_inputs"] == 2
    api = requests.Session()
    api.headers.update(bearer(token))
    run_files = api.get(
        f"{live_server}/api/v1/runs/{out['run_id']}/artifacts", params={"prefix": "model/"}
    ).json()
    assert "model/MLmodel" in {a["path"] for a in run_files["items"]}
    version = api.get(f"{live_server}/api/v1/models/sk/versions/1").json()
    assert version["run_id"] == out["run_id"] and "MLmodel" in {f["path"] for f in version["files"]}
    inputs = api.get(f"{live_server}/api/v1/runs/{out['run_id']}/inputs").json()["items"]
    assert sorted((i["name"], i["context"]) for i in inputs) == [
        ("churn-data", "evaluation"),
        ("churn-data", "training"),
    ]
    assert len({i["root_hash"] for i in inputs}) == 1
    # A deployment system fetches the alias MLflow set through Tether's own route, with its lineage.
    deployed = api.get(f"{live_server}/api/v1/models/sk/aliases/champion").json()
    assert deployed["version"] == 1 and deployed["run_id"] == out["run_id"]
    assert {d["name"] for d in deployed["datasets"]} == {"churn-data"}
    assert api.get(deployed["archive_url"]).status_code == 200


REGISTRY = """
import os, tempfile
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

d = tempfile.mkdtemp()
open(os.path.join(d, "MLmodel"), "w").write("flavors: {}\\n")
mlflow.set_experiment("compat-registry")
with mlflow.start_run() as run:
    mlflow.log_param("alpha", 0.5)  # runs/log-parameter
    mlflow.set_tag("owner", "mara")  # runs/set-tag
    mlflow.log_artifact(os.path.join(d, "MLmodel"), "model")
client = MlflowClient()
OUT["run_id"] = run.info.run_id
client.create_registered_model("reg", tags={"team": "growth"}, description="first")
client.set_registered_model_tag("reg", "tier", "gold")
src = f"runs:/{run.info.run_id}/model"
v1 = client.create_model_version("reg", src, run_id=run.info.run_id, tags={"k": "v"})
v2 = client.create_model_version("reg", src, run_id=run.info.run_id)
OUT["versions"] = [v1.version, v2.version]
client.update_model_version("reg", v1.version, description="v1 notes")
client.set_model_version_tag("reg", v1.version, "gone", "soon")
client.delete_model_version_tag("reg", v1.version, "gone")
got = client.get_model_version("reg", v1.version)
OUT["v1"] = [got.description, got.tags, got.run_id, got.source]
OUT["uri"] = client.get_model_version_download_uri("reg", v2.version)
client.set_registered_model_alias("reg", "candidate", v2.version)
OUT["alias"] = client.get_model_version_by_alias("reg", "candidate").version
client.delete_registered_model_alias("reg", "candidate")
try:
    client.get_model_version_by_alias("reg", "candidate")
except MlflowException as e:
    OUT["alias_gone"] = e.error_code
client.transition_model_version_stage("reg", v2.version, "Staging")
OUT["latest_all"] = sorted((v.version, v.current_stage) for v in client.get_latest_versions("reg"))
model = client.get_registered_model("reg")
OUT["model"] = [model.description, model.tags]
OUT["tag_search"] = [m.name for m in client.search_registered_models("tags.tier = 'gold'")]
OUT["like_search"] = [m.name for m in client.search_registered_models("name LIKE 're%'")]
OUT["version_search"] = sorted(v.version for v in client.search_model_versions("name = 'reg'"))
client.delete_model_version("reg", v1.version)
OUT["after_delete"] = sorted(v.version for v in client.search_model_versions("name = 'reg'"))
try:
    client.get_model_version("reg", v1.version)
except MlflowException as e:
    OUT["v1_gone"] = e.error_code
try:
    client.create_model_version("reg", "s3://elsewhere/model")
except MlflowException as e:
    OUT["foreign_source"] = e.error_code
client.create_registered_model("scratch")
client.delete_registered_model("scratch")
OUT["scratch"] = [m.name for m in client.search_registered_models("name = 'scratch'")]
"""


def test_registry_calls(mlflow_python: Path, live_server: str, users: Users, admin_token: str) -> None:
    """The registry calls beyond register_model (tags, version update/delete, aliases, latest
    versions, searches, deletes) through the stock client, checked through /api/v1 and the audit
    trail too."""
    _uid, token = users.create("mara", "writer")
    out = run_mlflow(mlflow_python, live_server, token, REGISTRY)
    run_id = out["run_id"]
    assert out["versions"] == ["1", "2"]
    assert out["v1"] == ["v1 notes", {"k": "v"}, run_id, f"runs:/{run_id}/model"]
    assert out["uri"] == "mlflow-artifacts:/registry/reg/2"
    assert out["alias"] == "2" and out["alias_gone"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["latest_all"] == [["1", "None"], ["2", "Staging"]]
    assert out["model"] == ["first", {"team": "growth", "tier": "gold"}]
    assert out["tag_search"] == ["reg"] and out["like_search"] == ["reg"]
    assert out["version_search"] == ["1", "2"] and out["after_delete"] == ["2"]
    assert out["v1_gone"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["foreign_source"] == "INVALID_PARAMETER_VALUE"
    assert out["scratch"] == []

    api = requests.Session()
    api.headers.update(bearer(token))
    run = api.get(f"{live_server}/api/v1/runs/{run_id}").json()
    assert run["params"] == {"alpha": "0.5"} and run["tags"]["owner"] == "mara"
    model = api.get(f"{live_server}/api/v1/models/reg").json()
    assert model["tags"] == {"team": "growth", "tier": "gold"} and model["description"] == "first"
    assert api.get(f"{live_server}/api/v1/models/reg/versions/1").status_code == 404
    assert api.get(f"{live_server}/api/v1/models/reg/versions/2").json()["stage"] == "Staging"
    audit = requests.get(
        f"{live_server}/api/v1/audit",
        params={"model": "reg", "max_results": 100},
        headers=bearer(admin_token),
    ).json()["items"]
    actions = {e["action"] for e in audit}
    assert {
        "model.created",
        "model.updated",
        "model.version_created",
        "model.version_updated",
        "model.version_deleted",
        "model.alias_changed",
        "model.stage_changed",
    } <= actions, actions


def test_stage_without_required_approvals_moves_at_once(
    mlflow_python: Path, live_server: str, users: Users, admin_token: str
) -> None:
    """A team that wants MLflow's direct behaviour sets Production's required approvals to 0: the
    stock client's transition then moves the version at once, archiving the previous one on request."""
    _uid, token = users.create("mara", "writer")
    setup = """
import os, tempfile
import mlflow
d = tempfile.mkdtemp()
open(os.path.join(d, "MLmodel"), "w").write("x")
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(d, "MLmodel"), "model")
for _ in range(2):
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "direct")
"""
    run_mlflow(mlflow_python, live_server, token, setup)
    policy = requests.put(
        f"{live_server}/api/v1/models/direct/policy",
        json={"required_approvals": {"Production": 0}},
        headers=bearer(admin_token),
    )
    assert policy.status_code == 200, policy.text
    move = """
from mlflow import MlflowClient
c = MlflowClient()
OUT["first"] = c.transition_model_version_stage("direct", "1", "Production").current_stage
OUT["second"] = c.transition_model_version_stage("direct", "2", "Production", archive_existing_versions=True).current_stage
OUT["stages"] = [c.get_model_version("direct", v).current_stage for v in ("1", "2")]
"""
    out = run_mlflow(mlflow_python, live_server, token, move)
    assert out == {"first": "Production", "second": "Production", "stages": ["Archived", "Production"]}
    pending = requests.get(
        f"{live_server}/api/v1/transition-requests", params={"model": "direct"}, headers=bearer(token)
    ).json()
    assert [r["status"] for r in pending["items"] if r["status"] == "pending"] == []
