"""examples/retrain-webhook: Tether delivers a signed `transition.approved` to the receiver, which
starts pipelines on a fake GitLab trigger API and a fake Jenkins; bad signatures, replays,
duplicates, ignored events and a refusing CI system are handled as documented."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.cicd.conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "retrain_receiver", ROOT / "examples" / "retrain-webhook" / "receiver.py"
)
receiver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(receiver)

SECRET = "s3cret-for-the-receiver"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"default_permission": "READ", "webhook_allowlist": "127.0.0.1/32"}


class FakeCI:
    """Records what the receiver sends; answers with ``status``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def ci_and_receiver():
    ci = FakeCI()
    env = {
        "TETHER_WEBHOOK_SECRET": SECRET,
        "GITLAB_TRIGGER_URL": ci.url + "/api/v4/projects/42/trigger/pipeline",
        "GITLAB_TRIGGER_TOKEN": "glptt-trigger",
        "GITLAB_REF": "main",
        "JENKINS_BUILD_URL": ci.url
        + "/job/retrain/buildWithParameters?MODEL_NAME={model}&TRIGGER_EVENT={event}",
        "JENKINS_USER": "bot",
        "JENKINS_API_TOKEN": "jenkins-api-token",
        "LISTEN": "127.0.0.1:0",
    }
    srv = receiver.serve(env)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield ci, f"http://127.0.0.1:{srv.server_port}/hook"
    srv.shutdown()
    ci.server.shutdown()


def _signed(
    body: dict[str, Any], ts: int | None = None, secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    from tether_server.services.events.webhooks import sign  # the server's own signing

    raw = json.dumps(body).encode()
    t = int(time.time()) if ts is None else ts
    return raw, {"X-Tether-Signature": f"t={t},v1={sign(secret, t, raw)}", "Content-Type": "application/json"}


def test_approved_transition_from_tether_triggers_both_ci_systems(
    app, settings, tether_srv, cli, ci_and_receiver, tmp_path
):
    from tether_server.runtime import Runtime
    from tether_server.workers.webhooks import deliver_due

    ci, hook = ci_and_receiver
    tether_srv.api(
        "POST", "/webhooks", json={"url": hook, "events": ["transition.approved"], "secret": SECRET}
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "m.bin").write_bytes(b"x")
    run_id = cli("runs", "create", "--experiment", "hook").stdout.strip()
    cli("runs", "log", run_id, "--artifact", str(tmp_path / "model"), "--artifact-path", "model")
    cli("models", "register", "--run", run_id, "--path", "model", "--name", "fraud")
    req = cli("models", "request", "--name", "fraud", "--version", "1", "--to", "Production").stdout.strip()
    tether_srv.api(
        "POST", f"/transition-requests/{req}/approve", token=tether_srv.reviewer, json={"comment": "ok"}
    )
    assert deliver_due(Runtime.of(app).database, settings) == 1
    gitlab, jenkins = sorted(ci.calls, key=lambda c: c["path"])
    assert gitlab["path"] == "/api/v4/projects/42/trigger/pipeline"
    form = parse_qs(gitlab["body"])
    assert form["token"] == ["glptt-trigger"] and form["ref"] == ["main"]
    assert form["variables[MODEL_NAME]"] == ["fraud"] and form["variables[MODEL_VERSION]"] == ["1"]
    assert form["variables[TRIGGER_EVENT]"] == ["transition.approved"]
    q = parse_qs(urlsplit(jenkins["path"]).query)
    assert urlsplit(jenkins["path"]).path == "/job/retrain/buildWithParameters"
    assert q == {"MODEL_NAME": ["fraud"], "TRIGGER_EVENT": ["transition.approved"]}
    assert (
        jenkins["headers"]["Authorization"] == "Basic Ym90OmplbmtpbnMtYXBpLXRva2Vu"
    )  # bot:jenkins-api-token
    deliveries = tether_srv.api("GET", "/webhooks")["items"][0]
    assert deliveries["url"] == hook


def test_signature_replay_duplicates_and_filters(ci_and_receiver):
    ci, hook = ci_and_receiver
    event = {
        "id": "e1",
        "event": "retrain.requested",
        "created_at": 0,
        "data": {"model": "churn", "reason": "psi 0.3"},
    }
    raw, headers = _signed(event)
    sig = headers["X-Tether-Signature"]
    bad = dict(headers, **{"X-Tether-Signature": sig[:-1] + ("1" if sig.endswith("0") else "0")})
    assert requests.post(hook, data=raw, headers=bad, timeout=10).status_code == 401
    assert (
        requests.post(hook, data=raw + b" ", headers=headers, timeout=10).status_code == 401
    )  # body changed
    old_raw, old = _signed(event, ts=int(time.time()) - 3600)
    assert requests.post(hook, data=old_raw, headers=old, timeout=10).status_code == 401  # replay window
    assert (
        requests.post(hook, data=raw, headers=_signed(event, secret="other")[1], timeout=10).status_code
        == 401
    )
    assert ci.calls == []

    ok = dict(headers, **{"X-Tether-Delivery": "101"})
    assert requests.post(hook, data=raw, headers=ok, timeout=10).status_code == 204
    assert requests.post(hook, data=raw, headers=ok, timeout=10).status_code == 204  # same delivery again
    assert len(ci.calls) == 2  # GitLab + Jenkins once, not twice
    assert parse_qs(ci.calls[0]["body"]).get("variables[TRIGGER_EVENT]", ["?"]) == [
        "retrain.requested"
    ] or parse_qs(urlsplit(ci.calls[0]["path"]).query)["TRIGGER_EVENT"] == ["retrain.requested"]

    staging = {
        "event": "transition.approved",
        "data": {"model": "churn", "version": 3, "to_stage": "Staging"},
    }
    raw2, h2 = _signed(staging)
    assert requests.post(hook, data=raw2, headers=h2, timeout=10).status_code == 202  # not a trigger
    raw3, h3 = _signed({"event": "model_version.created", "data": {"model": "churn"}})
    assert requests.post(hook, data=raw3, headers=h3, timeout=10).status_code == 202
    assert len(ci.calls) == 2


def test_refusing_ci_answers_502_so_tether_retries(ci_and_receiver):
    ci, hook = ci_and_receiver
    ci.status = 500
    raw, headers = _signed({"event": "retrain.requested", "data": {"model": "churn"}})
    headers["X-Tether-Delivery"] = "7"
    assert requests.post(hook, data=raw, headers=headers, timeout=10).status_code == 502
    ci.status = 201
    assert (
        requests.post(hook, data=raw, headers=headers, timeout=10).status_code == 204
    )  # the retry goes through
