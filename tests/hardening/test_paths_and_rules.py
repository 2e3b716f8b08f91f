"""Artifact and model-file paths (the issue-10 classes) are refused with 400 on the model-file and
register routes and by the SDK before anything is sent (the same error as the server's 400); one rule
for UI and API on decision comments; SSRF-refused webhook URLs name TETHER_WEBHOOK_ALLOWLIST."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import tether
from tests.api.helpers import assert_error
from tests.registry.helpers import create_model, grant, register, request_stage, reviewer, training_run
from tether._pathrules import PathRuleError, check_artifact_path
from tether_server.errors import InvalidArgument
from tether_server.runtime import Runtime

NEW_CLASSES = [
    "..;/escape",
    "a/..;x=1/b",
    ".. /x",
    "a/..\u0020\u0020/b",
    "a/.../b",
    "a//b",
    "file:/etc/passwd",
    "s3:bucket/k",
    "c:evil",
    "%ff%fe",
    "a/%c0%ae%c0%ae/b",
    "../escape",
]


@pytest.mark.parametrize("raw", NEW_CLASSES)
def test_shared_rules_refuse(raw: str) -> None:
    with pytest.raises(PathRuleError):
        check_artifact_path(raw)


@pytest.mark.parametrize("raw", ["a/b.txt", "model/ü v1.bin", "a..b/c..", "y/x:z", "runs;1/a", "%41.txt"])
def test_shared_rules_accept_ordinary_names(raw: str) -> None:
    assert check_artifact_path(raw) == raw


def test_model_file_and_register_routes_refuse_the_new_classes(client, auth, backend):
    run_id = training_run(client, auth)
    create_model(client, auth)
    version = register(client, auth, "churn", run_id)["version"]
    base = f"/api/v1/models/churn/versions/{version}/files"
    assert client.get(f"{base}/weights.bin", headers=auth).status_code == 200
    for raw in NEW_CLASSES:
        r = client.get(f"{base}/{quote(raw, safe='/')}", headers=auth)
        assert assert_error(r, 400, "INVALID_ARGUMENT")["details"]["field"] == "path", raw
        r = client.post(
            "/api/v1/models/churn/versions", json={"run_id": run_id, "artifact_path": raw}, headers=auth
        )
        assert_error(r, 400, "INVALID_ARGUMENT")
    for raw_url in ("%ff%fe", "a%c0%aeb", "..;/x", "a//b"):
        assert_error(client.get(f"{base}/{raw_url}", headers=auth), 400, "INVALID_ARGUMENT")
    assert len(client.get("/api/v1/models/churn/versions", headers=auth).json["items"]) == 1


@pytest.fixture
def sdk(live_server: str, writer: Any) -> Any:
    with tether.Client(live_server, token=writer[1], max_retries=0) as c:
        yield c


def test_sdk_refuses_bad_paths_before_sending_with_the_servers_error(
    sdk: Any, client: Any, auth: Any, tmp_path: Path, backend: str
) -> None:
    eid = client.post("/api/v1/experiments", json={"name": "sdkp"}, headers=auth).json["id"]
    rid = client.post("/api/v1/runs", json={"experiment_id": eid}, headers=auth).json["id"]
    f = tmp_path / "f.txt"
    f.write_text("x")
    server = client.post(
        f"/api/v1/runs/{rid}/artifacts/downloads", json={"path": "../escape/f.txt"}, headers=auth
    )
    with pytest.raises(tether.BadRequestError) as e:
        sdk.artifacts.upload(rid, f, "../escape")
    assert e.value.status == 400 and e.value.code == "INVALID_ARGUMENT"
    assert e.value.message == server.json["error"]["message"]
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.txt").write_text("a")
    calls = [
        lambda p: sdk.artifacts.upload(rid, f, p),
        lambda p: sdk.artifacts.upload_dir(rid, tmp_path / "tree", p),
        lambda p: sdk.artifacts.download(rid, p + "/f.txt", tmp_path / "out"),
        lambda p: sdk.artifacts.delete(rid, p + "/f.txt"),
        lambda p: list(sdk.artifacts.list(rid, prefix=p + "/")),
    ]
    for raw in ["..;", "a/.. ", "x//y", "s3:b", "%ff%fe", "a/%c0%ae"]:
        for call in calls:
            with pytest.raises(tether.BadRequestError) as e:
                call(raw)
            assert "Invalid artifact path" in e.value.message, raw
    assert client.get(f"/api/v1/runs/{rid}/artifacts", headers=auth).json["items"] == []


def test_decisions_need_a_non_blank_comment_on_api_and_ui(app, client, auth, users, backend):
    from tether_server.services.identity.users import principal_of
    from tether_server.services.registry import transitions

    run_id = training_run(client, auth)
    model = create_model(client, auth)
    register(client, auth, "churn", run_id)
    req = request_stage(client, auth, "churn", 1, "Production")
    uid, rev = reviewer(users, "rita")
    grant(client, auth, uid, model["id"])
    for verb in ("approve", "reject"):
        for body in ({}, {"comment": ""}, {"comment": "  \t\n "}):
            r = client.post(f"/api/v1/transition-requests/{req['id']}/{verb}", json=body, headers=rev)
            assert assert_error(r, 400, "INVALID_ARGUMENT")["details"]["field"] == "comment"
    # the review page's form handler calls the same service with the same policy flag
    with Runtime.of(app).database.session() as s:
        from tether_server.models import User

        actor = principal_of(s.get(User, uid), via="session")
        for fn in (transitions.approve, transitions.reject):
            with pytest.raises(InvalidArgument, match="comment"):
                fn(s, actor, req["id"], "   ", require_comment=True)
    got = client.get(f"/api/v1/transition-requests/{req['id']}", headers=auth).json
    assert got["status"] == "pending" and got["approvals"] == []
    r = client.post(f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": " ok "}, headers=rev)
    assert r.status_code == 200 and r.json["status"] == "approved"


@pytest.mark.parametrize("settings_overrides", [{"require_decision_comment": False}])
def test_the_comment_rule_is_a_policy_option(client, auth, users, backend, settings_overrides):
    run_id = training_run(client, auth)
    create_model(client, auth)
    register(client, auth, "churn", run_id)
    req = request_stage(client, auth, "churn", 1, "Production")
    uid, rev = reviewer(users, "rita")
    grant(client, auth, uid, client.get("/api/v1/models/churn", headers=auth).json["id"])
    r = client.post(f"/api/v1/transition-requests/{req['id']}/approve", json={}, headers=rev)
    assert r.status_code == 200 and r.json["status"] == "approved"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/h", "http://localhost/h"])
def test_refused_webhook_url_names_the_allowlist_setting(client, admin_token, backend, url):
    headers = {"Authorization": f"Bearer {admin_token}"}
    r = client.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=headers)
    err = assert_error(r, 400, "INVALID_ARGUMENT")
    assert "TETHER_WEBHOOK_ALLOWLIST" in err["message"] and err["details"]["field"] == "url"
