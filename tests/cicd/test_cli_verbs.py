"""The pipeline verbs against a live server (SQLite and PostgreSQL): each verb's output, exit code and
effect on the server, read back over the API."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from tests.cicd.conftest import AutoReviewer


def _model_dir(tmp_path: Path, payload: bytes = b'{"w": 1}') -> Path:
    d = tmp_path / "model"
    (d / "sub").mkdir(parents=True)
    (d / "model.json").write_bytes(payload)
    (d / "sub" / "vocab.txt").write_bytes(b"a\nb\n")
    return d


def _trained_run(cli, tmp_path: Path, auc: float, experiment: str = "ci") -> str:
    (tmp_path / "m.json").write_text(json.dumps({"auc": auc, "loss": [0.9, 0.5, 0.3]}))
    r = cli("runs", "create", "--experiment", experiment, "--name", "job", "-p", "lr=0.1", "-t", "ci=yes")
    assert r.exit_code == 0, r.stderr
    run_id = r.stdout.strip()
    model = tmp_path / "model"
    if not model.exists():
        _model_dir(tmp_path)
    r = cli(
        "runs",
        "log",
        run_id,
        "--metrics-file",
        str(tmp_path / "m.json"),
        "--artifact",
        str(model),
        "--artifact-path",
        "model",
    )
    assert r.exit_code == 0, r.stderr
    assert cli("runs", "finish", run_id).exit_code == 0
    return run_id


def test_runs_create_log_finish(cli, tether_srv, tmp_path):
    (tmp_path / "params.json").write_text(json.dumps({"depth": 6}))
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.91, "loss": [0.9, 0.5, "NaN"]}))
    r = cli(
        "runs",
        "create",
        "--experiment",
        "exp1",
        "--params-file",
        str(tmp_path / "params.json"),
        "-p",
        "lr=0.1",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(3000))
    r = cli(
        "runs",
        "log",
        run_id,
        "--metrics-file",
        str(tmp_path / "m.json"),
        "-m",
        "f1=0.7",
        "--step",
        "5",
        "-t",
        "team=ml",
        "--artifact",
        str(f),
        "--artifact-path",
        "out",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["metrics"] == 5 and out["artifacts"][0]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    r = cli("runs", "finish", env={"TETHER_RUN_ID": run_id})  # run id from the environment
    assert r.exit_code == 0, r.stderr
    assert cli("runs", "finish", run_id).exit_code == 0  # repeating it (a retried job) is fine
    r = cli("runs", "finish", run_id, "--status", "FAILED")
    assert r.exit_code == 1 and "FAILED_PRECONDITION" in r.stderr  # but it does not rewrite history
    run = tether_srv.api("GET", f"/runs/{run_id}")
    assert (
        run["status"] == "FINISHED"
        and run["params"] == {"depth": "6", "lr": "0.1"}
        and run["tags"]["team"] == "ml"
    )
    assert run["metrics"]["auc"]["value"] == 0.91 and run["metrics"]["f1"]["step"] == 5
    hist = tether_srv.api("GET", f"/runs/{run_id}/metrics/loss")
    assert [p["step"] for p in hist["items"]] == [0, 1, 2] and hist["items"][2]["value"] == "NaN"
    arts = tether_srv.api("GET", f"/runs/{run_id}/artifacts")
    assert [a["path"] for a in arts["items"]] == ["out/weights.bin"]


def test_register_gate_request_wait_fetch(cli, tether_srv, tmp_path):
    run_id = _trained_run(cli, tmp_path, auc=0.9)
    r = cli(
        "models", "register", "--run", run_id, "--path", "model", "--name", "churn", "--alias", "candidate"
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "1"
    assert tether_srv.api("GET", "/models/churn/aliases/candidate")["version"] == 1

    # gate: thresholds in both directions, --json carries the checks
    assert (
        cli(
            "models", "gate", "--name", "churn", "--version", "1", "--metric", "auc", "--min", "0.85"
        ).exit_code
        == 0
    )
    r = cli(
        "models", "gate", "--name", "churn", "--version", "1", "--metric", "auc", "--min", "0.95", "--json"
    )
    assert r.exit_code == 3 and "0.9 < min 0.95" in r.stderr
    assert json.loads(r.stdout)["checks"][0]["passed"] is False
    assert (
        cli(
            "models", "gate", "--name", "churn", "--version", "1", "--metric", "auc", "--max", "0.5"
        ).exit_code
        == 3
    )
    r = cli("models", "gate", "--name", "churn", "--version", "1", "--metric", "nope", "--min", "0")
    assert r.exit_code == 3 and "no finite value" in r.stderr
    # nothing in Production yet: the regression check passes and says why
    r = cli(
        "models",
        "gate",
        "--name",
        "churn",
        "--run",
        run_id,
        "--metric",
        "auc",
        "--vs",
        "production",
        "--max-regression",
        "0.01",
    )
    assert r.exit_code == 0 and "nothing to regress from" in r.stderr

    # request -> approve -> wait (exit 0); a second identical request is reused while pending
    r = cli("models", "request", "--name", "churn", "--version", "1", "--to", "Production", "--comment", "ci")
    assert r.exit_code == 0, r.stderr
    req_id = int(r.stdout)
    again = cli("models", "request", "--name", "churn", "--version", "1", "--to", "Production")
    assert again.exit_code == 0 and int(again.stdout) == req_id and "reusing" in again.stderr
    tether_srv.api(
        "POST", f"/transition-requests/{req_id}/approve", token=tether_srv.reviewer, json={"comment": "ok"}
    )
    r = cli("models", "wait", "--request", str(req_id), "--timeout", "30s", "--interval", "0.1", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "approved" and "rex" in r.stderr

    # a worse candidate fails the regression gate against Production
    run2 = _trained_run(cli, tmp_path, auc=0.88)
    r = cli(
        "models",
        "gate",
        "--name",
        "churn",
        "--run",
        run2,
        "--metric",
        "auc",
        "--vs",
        "production",
        "--max-regression",
        "0.01",
    )
    assert r.exit_code == 3 and "regression 0.02 > allowed 0.01" in r.stderr
    assert (
        cli(
            "models",
            "gate",
            "--name",
            "churn",
            "--run",
            run2,
            "--metric",
            "auc",
            "--vs",
            "production",
            "--max-regression",
            "0.05",
        ).exit_code
        == 0
    )
    # lower-is-better metrics regress upwards
    r = cli(
        "models",
        "gate",
        "--name",
        "churn",
        "--run",
        run2,
        "--metric",
        "auc",
        "--vs",
        "production",
        "--direction",
        "lower",
    )
    assert r.exit_code == 0

    # fetch production: every file verified, manifest written
    dst = tmp_path / "deploy"
    r = cli("models", "fetch", "--name", "churn", "--stage", "production", "--dst", str(dst), "--json")
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((dst / "tether-model.json").read_text())
    assert manifest["version"] == 1 and manifest["run_id"] == run_id
    assert sorted(f["path"] for f in manifest["files"]) == ["model.json", "sub/vocab.txt"]
    for f in manifest["files"]:
        assert hashlib.sha256((dst / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    r = cli("models", "fetch", "--name", "churn", "--alias", "candidate", "--dst", str(tmp_path / "by-alias"))
    assert r.exit_code == 0 and (tmp_path / "by-alias" / "sub" / "vocab.txt").read_bytes() == b"a\nb\n"


@pytest.mark.parametrize("decision,code", [("reject", 3), ("cancel", 5)])
def test_wait_exit_codes(cli, tether_srv, tmp_path, decision, code):
    run_id = _trained_run(cli, tmp_path, auc=0.9)
    cli("models", "register", "--run", run_id, "--path", "model", "--name", "m")
    req_id = cli("models", "request", "--name", "m", "--version", "1", "--to", "Production").stdout.strip()
    with AutoReviewer(tether_srv, decision):
        r = cli("models", "wait", "--request", req_id, "--timeout", "60s", "--interval", "0.1")
    assert r.exit_code == code, r.stderr
    assert ("rejected" if decision == "reject" else "cancelled") in r.stderr


def test_wait_timeout_and_staging_applies_at_once(cli, tmp_path):
    run_id = _trained_run(cli, tmp_path, auc=0.9)
    cli("models", "register", "--run", run_id, "--path", "model", "--name", "m")
    req_id = cli("models", "request", "--name", "m", "--version", "1", "--to", "Production").stdout.strip()
    r = cli("models", "wait", "--request", req_id, "--timeout", "0.3s", "--interval", "0.1", "--json")
    assert r.exit_code == 4 and json.loads(r.stdout)["timed_out"] is True
    r = cli("models", "request", "--name", "m", "--version", "1", "--to", "Staging")  # 0 approvals needed
    assert r.exit_code == 0 and "applied at once" in r.stderr
    assert cli("models", "wait", "--request", r.stdout.strip(), "--timeout", "1s").exit_code == 0


def test_fetch_refuses_corrupted_files(cli, tether_srv, settings, tmp_path):
    run_id = _trained_run(cli, tmp_path, auc=0.9)
    cli("models", "register", "--run", run_id, "--path", "model", "--name", "m", "--alias", "prod")
    # corrupt the registered copy in the (local) store behind the server's back
    copies = [p for p in Path(settings.resolved_artifact_uri).rglob("model.json") if "registry" in p.parts]
    assert len(copies) == 1
    copies[0].write_bytes(b'{"w": 2}')  # same size, different bytes
    dst = tmp_path / "dst"
    r = cli("models", "fetch", "--name", "m", "--alias", "prod", "--dst", str(dst))
    assert r.exit_code == 1 and "MISMATCH model.json" in r.stderr
    assert not (dst / "model.json").exists() and not (dst / "tether-model.json").exists()
    assert (dst / "sub" / "vocab.txt").exists()  # the intact file is fine


def test_errors_usage_and_no_secrets(cli, tether_srv):
    assert (
        cli("models", "gate", "--name", "x", "--metric", "auc", "--min", "1").exit_code == 2
    )  # no --version/--run
    assert cli("models", "wait", "--request", "1", "--timeout", "soon").exit_code == 2
    assert cli("runs", "log").exit_code == 2  # no run id anywhere
    bad = "tth_" + "x" * 40
    r = cli("runs", "create", "--experiment", "e", token=bad)
    assert r.exit_code == 1 and "UNAUTHENTICATED" in r.stderr and bad not in r.stdout + r.stderr
    r = cli("models", "wait", "--request", "999999", "--timeout", "1s")
    assert r.exit_code == 1 and "NOT_FOUND" in r.stderr
    r = cli("models", "fetch", "--name", "nope", "--dst", "/tmp/never-used-by-tether")
    assert r.exit_code == 1 and "NOT_FOUND" in r.stderr


def test_help_documents_exit_codes(cli):
    for args in ([], ["runs"], ["models"], ["models", "wait"], ["models", "gate"], ["login"]):
        r = cli(*args, "--help")
        assert r.exit_code == 0 and "3 the answer is no" in r.stdout and "4 timeout" in r.stdout, args


def test_login_stores_token_privately(cli, tether_srv, tmp_path, monkeypatch):
    creds = tmp_path / "creds" / "credentials.json"
    monkeypatch.setenv("TETHER_CREDENTIALS_FILE", str(creds))
    r = cli("login", tether_srv.url, "--json", input=tether_srv.writer + "\n", token="")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["user"] == "wanda" and tether_srv.writer not in r.stdout + r.stderr
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    monkeypatch.delenv("TETHER_TOKEN")
    r = cli("whoami", token="")  # no TETHER_TOKEN: the stored token is used
    assert r.exit_code == 0 and r.stdout.split() == ["wanda", "writer"]
    assert cli("login", tether_srv.url, input="tth_wrong\n", token="").exit_code == 1  # verified first
    assert json.loads(creds.read_text())["servers"][tether_srv.url]["token"] == tether_srv.writer
    assert cli("logout", tether_srv.url, token="").exit_code == 0
    assert json.loads(creds.read_text())["servers"] == {}
