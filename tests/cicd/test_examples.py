"""The CI/CD examples cannot rot: the GitLab file is checked against GitLab's CI schema and its jobs'
shell lines run against a live server; the Jenkinsfile's `sh` steps run the same way; the Kubeflow
pipeline compiles with kfp (in a virtualenv of its own, since kfp pins requests/urllib3/protobuf)
and its components run against the live server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cicd.conftest import BIN, ROOT, AutoReviewer, Tether

EXAMPLES = ROOT / "examples"


def _workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "checkout"
    wd.mkdir(parents=True)
    for f in ("train.py", "deploy.py"):
        shutil.copy(EXAMPLES / "steps" / f, wd / f)
    return wd


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------- GitLab


def test_gitlab_file_matches_gitlab_schema():
    r = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(EXAMPLES / "gitlab-ci" / ".gitlab-ci.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _gitlab_jobs(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    reserved = {"variables", "stages", "default", "workflow", "include"}
    jobs = [(k, v) for k, v in doc.items() if k not in reserved and not k.startswith(".")]
    order = {s: i for i, s in enumerate(doc["stages"])}
    return sorted(jobs, key=lambda kv: order[kv[1]["stage"]])  # stable: file order within a stage


def _run_gitlab(
    srv: Tether, wd: Path, **overrides: str
) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    doc = yaml.safe_load((EXAMPLES / "gitlab-ci" / ".gitlab-ci.yml").read_text())
    carried: dict[str, str] = {}
    done = []
    for name, job in _gitlab_jobs(doc):
        script = "\n".join([*doc["default"]["before_script"], *job["script"]])
        env = {**{k: str(v) for k, v in doc["variables"].items()}, **carried}
        env.update(
            srv.env(
                CI_PIPELINE_ID="4711",
                CI_COMMIT_SHORT_SHA="abc1234",
                CI_PIPELINE_SOURCE="push",
                TETHER_WAIT_INTERVAL="0.2s",
                **overrides,
            )
        )
        r = _bash(script, env, wd)
        done.append((name, r))
        if r.returncode != 0:
            break
        dotenv = ((job.get("artifacts") or {}).get("reports") or {}).get("dotenv")
        if dotenv:
            for line in (wd / dotenv).read_text().splitlines():
                k, _, v = line.partition("=")
                carried[k] = v
    return done


def test_gitlab_pipeline_runs_against_a_live_server(tether_srv, tmp_path):
    wd = _workdir(tmp_path)
    with AutoReviewer(tether_srv) as reviewer:
        done = _run_gitlab(tether_srv, wd)
    assert [n for n, r in done if r.returncode == 0] == [
        "train",
        "gate",
        "register",
        "request-review",
        "wait-for-approval",
        "deploy",
    ], [(n, r.returncode, r.stderr) for n, r in done]
    assert len(reviewer.decided) == 1
    prod = tether_srv.api("GET", "/models/churn/stages/production")
    assert prod["version"] == 1 and "candidate" in prod["aliases"]
    run = tether_srv.api("GET", f"/runs/{prod['run_id']}")
    assert (
        run["status"] == "FINISHED"
        and run["name"] == "pipeline-4711"
        and run["metrics"]["auc"]["value"] > 0.75
    )
    released = json.loads((wd / "released" / "churn-v1" / "tether-model.json").read_text())
    assert released["version"] == 1 and released["run_id"] == prod["run_id"]
    assert "deployed churn version 1" in done[-1][1].stdout

    # a second pipeline whose model misses the bar stops at the gate with exit 3
    again = _run_gitlab(tether_srv, _workdir(tmp_path / "2"), MIN_AUC="0.99")
    assert [n for n, _ in again] == ["train", "gate"] and again[-1][1].returncode == 3
    assert "FAIL min" in again[-1][1].stderr
    assert tether_srv.api("GET", "/models/churn/versions")["items"][0]["version"] == 1  # nothing registered


# ---------------------------------------------------------------- Jenkins


def _jenkins_steps(text: str) -> list[tuple[str, str]]:
    steps = []
    for m in re.finditer(r"stage\('([^']+)'\)\s*\{(.*?)\n        \}", text, re.S):
        for sh in re.findall(r"sh '''(.*?)'''", m.group(2), re.S):
            steps.append((m.group(1), sh))
    return steps


def _jenkins_env(text: str) -> dict[str, str]:
    params = dict(re.findall(r"string\(name: '(\w+)', defaultValue: '([^']*)'", text))
    block = re.search(r"environment \{(.*?)\n    \}", text, re.S).group(1)
    env = {}
    for key, value in re.findall(r"^\s*(\w+) = (.+)$", block, re.M):
        lit = re.fullmatch(r"'([^']*)'", value)
        ref = re.fullmatch(r'"\$\{params\.(\w+)\}"', value)
        if lit:
            env[key] = lit.group(1)
        elif ref:
            env[key] = params[ref.group(1)]
    return env  # credentials('...') entries come from the test, like Jenkins' credential store


def test_jenkins_sh_steps_run_against_a_live_server(tether_srv, tmp_path):
    text = (EXAMPLES / "jenkins" / "Jenkinsfile").read_text()
    steps = _jenkins_steps(text)
    assert [s for s, _ in steps] == [
        "Train",
        "Gate",
        "Register",
        "Request review",
        "Wait for approval",
        "Deploy",
    ]
    wd = _workdir(tmp_path)
    env = {**_jenkins_env(text), **tether_srv.env(BUILD_NUMBER="17", TETHER_WAIT_INTERVAL="0.2s")}
    with AutoReviewer(tether_srv):
        for stage, sh in steps:
            r = _bash(sh, env, wd)
            assert r.returncode == 0, (stage, r.stderr)
    prod = tether_srv.api("GET", "/models/churn/stages/production")
    assert prod["version"] == 1 and prod["description"] == "jenkins 17"
    assert (wd / "released" / "churn-v1" / "model.json").is_file()


# ---------------------------------------------------------------- Kubeflow


@pytest.fixture(scope="session")
def kfp_python() -> Path:
    """A virtualenv with kfp (and kfp-kubernetes, and our client) of its own: kfp pins requests,
    urllib3 and protobuf. Reused across runs at TETHER_TEST_KFP_VENV (default <repo>/.venv-kfp)."""
    venv = Path(os.environ.get("TETHER_TEST_KFP_VENV", ROOT / ".venv-kfp"))
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    have = subprocess.run([str(py), "-c", "import kfp, kfp.kubernetes, tether.cli"], capture_output=True)
    if have.returncode != 0:
        r = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "kfp>=2.7", "kfp-kubernetes", "-e", str(ROOT / "client")],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert r.returncode == 0, f"could not install kfp into {venv}: {r.stderr[-2000:]}"
    return py


def test_kubeflow_pipeline_compiles(kfp_python, tmp_path):
    out = tmp_path / "pipeline.yaml"
    r = subprocess.run(
        [str(kfp_python), str(EXAMPLES / "kubeflow" / "pipeline.py"), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(out.read_text()))
    spec, platform = docs[0], docs[1]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"train", "gate", "register", "request-review"}
    assert set(tasks["register"]["dependentTasks"]) == {"train", "gate"}
    assert tasks["request-review"]["dependentTasks"] == ["register"]
    execs = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert all(e["secretAsEnv"][0]["keyToEnv"][0]["envVar"] == "TETHER_TOKEN" for e in execs.values())
    assert len(execs) == 4


def test_kubeflow_components_run_against_a_live_server(kfp_python, tether_srv, tmp_path):
    script = f"""
import json, sys
sys.path.insert(0, {str(EXAMPLES / "kubeflow")!r})
import pipeline

class Out:
    path = {str(tmp_path / "model")!r}

url = {tether_srv.url!r}
run_id = pipeline.train.python_func(tether_url=url, experiment="kf", lr=0.5, epochs=60, model_dir=Out())
pipeline.gate.python_func(tether_url=url, model_name="kf", run_id=run_id, min_auc=0.75, max_regression=0.01)
version = pipeline.register.python_func(tether_url=url, model_name="kf", run_id=run_id)
req = pipeline.request_review.python_func(tether_url=url, model_name="kf", version=version, comment="kfp")
print(json.dumps({{"run_id": run_id, "version": version, "request": req}}))
"""
    env = tether_srv.env(PATH=f"{kfp_python.parent}{os.pathsep}{os.environ['PATH']}")
    r = subprocess.run([str(kfp_python), "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["version"] == 1
    req = tether_srv.api("GET", f"/transition-requests/{out['request']}")
    assert req["status"] == "pending" and req["to_stage"] == "Production" and req["model"] == "kf"
    run = tether_srv.api("GET", f"/runs/{out['run_id']}")
    assert run["status"] == "FINISHED" and run["params"]["epochs"] == "60"
    assert (
        len(
            tether_srv.api("GET", f"/runs/{out['run_id']}/metrics/loss", params={"max_results": 1000})[
                "items"
            ]
        )
        == 60
    )
