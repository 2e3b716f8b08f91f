"""Every variable in the README's settings table does what the table says.

The test is parametrized over the table's rows: a new row without an entry in ``CHECKS`` fails, and so
does a ``Settings`` field with an environment variable that the table does not document. Each check
sets the variable through the environment (``Settings.from_env``), builds an app and observes the
promised behaviour; parsing alone proves nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import BadSignature
from sqlalchemy import select, text

from tests.conftest import bearer
from tests.registry.receiver import Receiver
from tether_server import create_app
from tether_server.config import Settings
from tether_server.models import AuditEvent, now_ms
from tether_server.models.registry import WebhookDelivery
from tether_server.runtime import Runtime
from tether_server.services.identity import users as users_svc
from tether_server.services.identity.bootstrap import bootstrap_admin
from tether_server.workers import webhooks as deliver

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_variables() -> list[str]:
    """The variables of the "Configuration" table (a row may name two: ``A`` / ``B``)."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `TETHER_"):
            names += re.findall(r"`(TETHER_[A-Z0-9_]+)`", line.split("|")[1])
    return names


class Env:
    """Builds apps from ``TETHER_*`` variables over a migrated SQLite copy; closes them at the end."""

    def __init__(self, tmp: Path, template: Path) -> None:
        self.tmp, self.template, self.apps = tmp, template, []

    def app(self, env: dict[str, str], *, base: bool = True) -> Any:
        defaults: dict[str, str] = {
            "TETHER_WEBHOOK_WORKER": "false",
            "TETHER_MONITOR_EVAL_SECONDS": "0",
            "TETHER_ABTEST_EVAL_SECONDS": "0",
        }
        if base:
            db = self.tmp / f"t{len(self.apps)}.db"
            shutil.copy(self.template, db)
            defaults |= {
                "TETHER_DATA_DIR": str(self.tmp / "data"),
                "TETHER_DATABASE_URL": f"sqlite:///{db}",
                "TETHER_SECRET_KEY": "k" * 16,
            }
        app = create_app(Settings.from_env({**defaults, **env}))
        app.config["TETHER_ACCESS_LOG"] = False
        self.apps.append(app)
        return app

    def user(self, app: Any, name: str, role: str, password: str | None = None) -> tuple[int, str]:
        with Runtime.of(app).database.transaction() as s:
            user = users_svc.create_user(s, None, name, role, password)
            token, plain = users_svc.create_token(s, None, user, "t")
            return token.id, plain


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> Iterator[Env]:
    e = Env(tmp_path, sqlite_template)
    yield e
    for app in e.apps:
        Runtime.of(app).close()


def _live(app: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        t.join(5)


def _sdk_me(monkeypatch: pytest.MonkeyPatch, env_vars: dict[str, str]) -> Any:
    import tether

    for k, v in env_vars.items():
        monkeypatch.setenv(k, v)
    with tether.Client() as c:
        return c.experiments.create("from-env")


# ---------------------------------------------------------------- the checks, one per variable


def check_url(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({})
    _, tok = env.user(app, "w", "writer")
    for url in _live(app):
        assert _sdk_me(mp, {"TETHER_URL": url, "TETHER_TOKEN": tok}).name == "from-env"


def check_token(env: Env, mp: pytest.MonkeyPatch) -> None:
    import tether

    app = env.app({})
    _, tok = env.user(app, "w", "writer")
    for url in _live(app):
        mp.setenv("TETHER_URL", url)
        with pytest.raises(tether.AuthenticationError):
            _sdk_me(mp, {"TETHER_TOKEN": "tth_" + "x" * 40})
        assert _sdk_me(mp, {"TETHER_TOKEN": tok}).name == "from-env"


def check_credentials_file(env: Env, mp: pytest.MonkeyPatch) -> None:
    path = env.tmp / "creds" / "c.json"
    # Server: `tether server` saves the bootstrap token there (Settings.resolved_credentials_file).
    assert Settings.from_env({"TETHER_CREDENTIALS_FILE": str(path)}).resolved_credentials_file == path
    app = env.app({})
    _, tok = env.user(app, "w", "writer")
    for url in _live(app):
        from tether_server.services.identity.bootstrap import save_credentials

        save_credentials([url], tok, Runtime.of(app).settings.resolved_credentials_file)
        mp.delenv("TETHER_TOKEN", raising=False)
        assert not path.exists()  # the default points elsewhere; now the variable:
        save_credentials(
            [url], tok, Settings.from_env({"TETHER_CREDENTIALS_FILE": str(path)}).resolved_credentials_file
        )
        assert _sdk_me(mp, {"TETHER_URL": url, "TETHER_CREDENTIALS_FILE": str(path)}).name == "from-env"


def check_data_dir(env: Env, mp: pytest.MonkeyPatch) -> None:
    data = env.tmp / "elsewhere"
    app = env.app({"TETHER_DATA_DIR": str(data)}, base=False)
    rt = Runtime.of(app)
    assert (data / "secret_key").is_file()  # the generated cookie key lives there
    with rt.database.engine.connect() as c:
        c.execute(text("CREATE TABLE probe (x INTEGER)"))
        c.commit()
    assert (data / "tether.db").is_file()
    rt.store.put_stream("a/b.txt", io.BytesIO(b"hello"))
    assert (data / "artifacts" / "a" / "b.txt").read_bytes() == b"hello"


def check_database_url(env: Env, mp: pytest.MonkeyPatch) -> None:
    db = env.tmp / "chosen.db"
    shutil.copy(env.template, db)
    app = env.app({"TETHER_DATABASE_URL": f"sqlite:///{db}"})
    env.user(app, "in-chosen-db", "viewer")
    import sqlite3

    with sqlite3.connect(db) as c:
        assert c.execute("SELECT name FROM users").fetchall() == [("in-chosen-db",)]


def check_artifact_uri(env: Env, mp: pytest.MonkeyPatch) -> None:
    root = env.tmp / "art-root"
    app = env.app({"TETHER_ARTIFACT_URI": str(root)})
    Runtime.of(app).store.put_stream("k.bin", io.BytesIO(b"x"))
    assert (root / "k.bin").read_bytes() == b"x"


S3 = os.environ.get("TETHER_TEST_S3_ENDPOINT", "")


def _s3_env(**over: str) -> dict[str, str]:
    if not S3:
        pytest.skip("no S3 server (TETHER_TEST_S3_ENDPOINT)")
    env = {
        "TETHER_ARTIFACT_URI": "s3://tether-settings-test/p",
        "TETHER_S3_ENDPOINT": S3,
        "TETHER_S3_ACCESS_KEY": os.environ.get("TETHER_TEST_S3_ACCESS_KEY", ""),
        "TETHER_S3_SECRET_KEY": os.environ.get("TETHER_TEST_S3_SECRET_KEY", ""),
    }
    return {**env, **over}


def check_s3_endpoint_and_keys(env: Env, mp: pytest.MonkeyPatch) -> None:
    # three rows share this check (endpoint, access key, secret key) and may run at once on two
    # pytest workers against the same bucket: each run writes and deletes a key of its own
    key = f"probe-{uuid.uuid4().hex}.txt"
    store = Runtime.of(env.app(_s3_env())).store
    store.put_stream(key, io.BytesIO(b"s3"))
    assert b"".join(store.open(key)) == b"s3"
    store.delete(key)
    bad = Runtime.of(env.app(_s3_env(TETHER_S3_SECRET_KEY="wrong-secret-key-000"))).store
    with pytest.raises(Exception):  # noqa: B017  (refused by the server: the key is really used)
        bad.put_stream(key, io.BytesIO(b"s3"))


def check_s3_region(env: Env, mp: pytest.MonkeyPatch) -> None:
    store = Runtime.of(env.app(_s3_env(TETHER_S3_REGION="eu-test-9"))).store
    assert "eu-test-9" in store.presign_get("any", 60)  # signed for that region


def check_s3_secure(env: Env, mp: pytest.MonkeyPatch) -> None:
    host = S3.split("://", 1)[-1] if S3 else ""
    for flag, scheme in (("true", "https://"), ("false", "http://")):
        store = Runtime.of(env.app(_s3_env(TETHER_S3_ENDPOINT=host, TETHER_S3_SECURE=flag))).store
        assert store.presign_get("any", 60).startswith(scheme)


def check_s3_presign(env: Env, mp: pytest.MonkeyPatch) -> None:
    assert Runtime.of(env.app(_s3_env(TETHER_S3_PRESIGN="true"))).store.supports_presign
    assert not Runtime.of(env.app(_s3_env(TETHER_S3_PRESIGN="false"))).store.supports_presign


def check_secret_key(env: Env, mp: pytest.MonkeyPatch) -> None:
    a, b = env.app({"TETHER_SECRET_KEY": "shared-" * 4}), env.app({"TETHER_SECRET_KEY": "shared-" * 4})
    c = env.app({"TETHER_SECRET_KEY": "other-" * 4})
    cookie = a.session_interface.get_signing_serializer(a).dumps({"uid": 1})
    assert b.session_interface.get_signing_serializer(b).loads(cookie) == {"uid": 1}
    with pytest.raises(BadSignature):
        c.session_interface.get_signing_serializer(c).loads(cookie)


def check_admin_token(env: Env, mp: pytest.MonkeyPatch) -> None:
    token = "tth_" + "a" * 40
    app = env.app({"TETHER_ADMIN_TOKEN": token})
    rt = Runtime.of(app)
    with rt.database.transaction() as s:  # what `tether server` does before it starts
        bootstrap_admin(s, rt.settings)
    me = app.test_client().get("/api/v1/users/me", headers=bearer(token)).json
    assert me["name"] == "admin" and me["role"] == "admin"


def check_default_permission(env: Env, mp: pytest.MonkeyPatch) -> None:
    for level, visible in (("READ", True), ("NONE", False)):
        app = env.app({"TETHER_DEFAULT_PERMISSION": level})
        client = app.test_client()
        _, owner = env.user(app, "owner", "writer")
        _, viewer = env.user(app, "viewer", "viewer")
        eid = client.post("/api/v1/experiments", json={"name": "e"}, headers=bearer(owner)).json["id"]
        status = client.get(f"/api/v1/experiments/{eid}", headers=bearer(viewer)).status_code
        assert status == (200 if visible else 404)


def check_auth_cache_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    for seconds, still_accepted in (("3600", True), ("0", False)):
        app = env.app({"TETHER_AUTH_CACHE_SECONDS": seconds})
        client = app.test_client()
        tid, tok = env.user(app, "u", "viewer")
        assert client.get("/api/v1/users/me", headers=bearer(tok)).status_code == 200
        with Runtime.of(app).database.transaction() as s:  # revoked by "another process"
            s.execute(text("UPDATE api_tokens SET revoked_at = :t WHERE id = :i"), {"t": now_ms(), "i": tid})
        status = client.get("/api/v1/users/me", headers=bearer(tok)).status_code
        assert status == (200 if still_accepted else 401)


def check_max_content_length(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({"TETHER_MAX_CONTENT_LENGTH": "2048"})
    _, tok = env.user(app, "w", "writer")
    body = {"name": "e", "description": "x" * 3000}
    assert app.test_client().post("/api/v1/experiments", json=body, headers=bearer(tok)).status_code == 413


def check_max_batch_metrics(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({"TETHER_MAX_BATCH_METRICS": "2"})
    client = app.test_client()
    _, tok = env.user(app, "w", "writer")
    eid = client.post("/api/v1/experiments", json={"name": "e"}, headers=bearer(tok)).json["id"]
    rid = client.post("/api/v1/runs", json={"experiment_id": eid}, headers=bearer(tok)).json["id"]

    def batch(n: int) -> int:
        metrics = [{"key": "m", "value": 1.0, "step": i} for i in range(n)]
        return client.post(
            f"/api/v1/runs/{rid}/batch", json={"metrics": metrics}, headers=bearer(tok)
        ).status_code

    assert batch(2) == 200 and batch(3) == 400


def check_max_search_results(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({"TETHER_MAX_SEARCH_RESULTS": "5"})
    client = app.test_client()
    _, tok = env.user(app, "v", "viewer")

    def search(n: int) -> int:
        return client.post("/api/v1/runs/search", json={"max_results": n}, headers=bearer(tok)).status_code

    assert search(5) == 200 and search(6) == 400


def _login(client: Any, name: str, password: str) -> Any:
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf})


def check_session_cookie_secure(env: Env, mp: pytest.MonkeyPatch) -> None:
    for flag, secure in (("true", True), ("false", False)):
        app = env.app({"TETHER_SESSION_COOKIE_SECURE": flag})
        env.user(app, "alice", "viewer", "correct horse battery")
        r = _login(app.test_client(), "alice", "correct horse battery")
        cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("tether_session="))
        assert ("; Secure" in cookie) is secure


def check_login_max_failures(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({"TETHER_LOGIN_MAX_FAILURES": "2"})
    env.user(app, "alice", "viewer", "correct horse battery")
    client = app.test_client()
    assert [_login(client, "alice", "wrong-password").status_code for _ in range(3)] == [401, 401, 429]


def check_login_lockout_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    for seconds, status in (("10", 401), ("60", 429)):
        app = env.app({"TETHER_LOGIN_LOCKOUT_SECONDS": seconds, "TETHER_LOGIN_MAX_FAILURES": "1"})
        env.user(app, "alice", "viewer", "correct horse battery")
        with Runtime.of(app).database.transaction() as s:  # a failure 30 s ago
            s.add(
                AuditEvent(
                    ts=now_ms() - 30_000,
                    action="auth.login_failed",
                    actor_name="alice",
                    resource_type="user",
                    resource_id="alice",
                    details={"ip": "1.2.3.4"},
                )
            )
        assert _login(app.test_client(), "alice", "wrong-password").status_code == status


def check_webhook_allowlist(env: Env, mp: pytest.MonkeyPatch) -> None:
    for allow, status in (("", 400), ("127.0.0.1/32", 201)):
        app = env.app({"TETHER_WEBHOOK_ALLOWLIST": allow})
        _, admin = env.user(app, "root", "admin")
        body = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
        assert (
            app.test_client().post("/api/v1/webhooks", json=body, headers=bearer(admin)).status_code == status
        )


def check_webhook_worker(env: Env, mp: pytest.MonkeyPatch) -> None:
    on = Runtime.of(env.app({"TETHER_WEBHOOK_WORKER": "true"})).workers.get("webhooks")
    assert on is not None and on.running
    assert Runtime.of(env.app({"TETHER_WEBHOOK_WORKER": "false"})).workers.get("webhooks") is None


def _one_delivery(env: Env, over: dict[str, str], url: str) -> tuple[Any, WebhookDelivery]:
    app = env.app({"TETHER_WEBHOOK_ALLOWLIST": "127.0.0.1/32", **over})
    rt = Runtime.of(app)
    _, admin = env.user(app, "root", "admin")
    body = {"url": url, "events": ["*"]}
    sub = app.test_client().post("/api/v1/webhooks", json=body, headers=bearer(admin)).json
    with rt.database.transaction() as s:
        s.add(WebhookDelivery(subscription_id=sub["id"], event="stage.changed", payload="{}"))
    assert deliver.deliver_due(rt.database, rt.settings) == 1
    with rt.database.transaction(write=False) as s:
        return app, s.scalars(select(WebhookDelivery)).one()


def check_webhook_timeout_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # accepts connections (the kernel does) and never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        _, d = _one_delivery(env, {"TETHER_WEBHOOK_TIMEOUT_SECONDS": "0.2"}, url)
        assert d.last_error == "timeout"
    finally:
        silent.close()


def check_webhook_max_attempts(env: Env, mp: pytest.MonkeyPatch) -> None:
    for attempts, status in (("1", "failed"), ("2", "pending")):
        with Receiver(statuses=[500]) as rx:
            _, d = _one_delivery(env, {"TETHER_WEBHOOK_MAX_ATTEMPTS": attempts}, rx.url)
        assert d.attempts == 1 and d.status == status


def check_webhook_retry_base_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    with Receiver(statuses=[500]) as rx:
        _, d = _one_delivery(env, {"TETHER_WEBHOOK_RETRY_BASE_SECONDS": "100"}, rx.url)
    assert 100_000 <= d.next_attempt_at - d.last_attempt_at < 101_000


def check_webhook_poll_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    worker = Runtime.of(
        env.app({"TETHER_WEBHOOK_WORKER": "true", "TETHER_WEBHOOK_POLL_SECONDS": "7.5"})
    ).workers.get("webhooks")
    assert worker is not None
    worker.stop()
    waits: list[float | None] = []

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            worker._stopping.set()  # type: ignore[attr-defined]
            return True

    worker._wake = Recorder()  # type: ignore[attr-defined]
    worker.start()
    worker.stop()
    assert waits == [7.5]  # the loop sleeps the configured time between passes


def check_monitor_eval_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    assert Runtime.of(env.app({"TETHER_MONITOR_EVAL_SECONDS": "0"})).workers.get("monitor-evaluator") is None
    worker = Runtime.of(env.app({"TETHER_MONITOR_EVAL_SECONDS": "12.5"})).workers.get("monitor-evaluator")
    assert worker is not None and worker.running
    worker.stop()
    passes: list[int] = []
    waits: list[float | None] = []
    mp.setattr(
        "tether_server.workers.monitoring.evaluate_staged",
        lambda database, now, monitor_ids=None, wait=False: passes.append(now) or 0,
    )

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            worker._stopping.set()  # type: ignore[attr-defined]
            return True

    worker._wake = Recorder()  # type: ignore[attr-defined]
    mp.setattr(worker, "in_use", lambda: True)  # a monitor exists (the pass itself is patched)
    worker.start()
    worker.stop()
    # one evaluator pass ran, then the loop sleeps the configured period
    assert len(passes) == 1 and abs(passes[0] - now_ms()) < 600_000 and waits == [12.5]


def check_abtest_eval_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    assert Runtime.of(env.app({"TETHER_ABTEST_EVAL_SECONDS": "0"})).workers.get("abtests") is None
    worker = Runtime.of(env.app({"TETHER_ABTEST_EVAL_SECONDS": "45"})).workers.get("abtests")
    assert worker is not None and worker.running
    worker.stop()
    passes: list[object] = []
    waits: list[float | None] = []
    mp.setattr(
        "tether_server.workers.abtests.evaluate_all",
        lambda database, limit=1000: passes.append(database) or 0,
    )

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            worker._stopping.set()  # type: ignore[attr-defined]
            return True

    worker._wake = Recorder()  # type: ignore[attr-defined]
    mp.setattr(worker, "in_use", lambda: True)  # a test exists (the pass itself is patched)
    worker.start()
    worker.stop()
    # one decision pass over this app's database ran, then the loop sleeps the configured period
    assert passes == [worker.runtime.database] and waits == [45.0]  # type: ignore[attr-defined]


def check_log_level(env: Env, mp: pytest.MonkeyPatch) -> None:
    code = "import logging, tether_server.wsgi; print(logging.getLogger().getEffectiveLevel())"
    for level, number in (("WARNING", 30), ("DEBUG", 10)):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={
                **os.environ,
                "TETHER_DATA_DIR": str(env.tmp / "wsgi"),
                "TETHER_WEBHOOK_WORKER": "false",
                "TETHER_LOG_LEVEL": level,
            },
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert out.stdout.strip().splitlines()[-1] == str(number)


def check_log_format(env: Env, mp: pytest.MonkeyPatch) -> None:
    code = (
        "import logging, tether_server.wsgi; logging.getLogger('tether.check').warning('hello %s', 'world')"
    )
    for fmt in ("json", "text"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={
                **os.environ,
                "TETHER_DATA_DIR": str(env.tmp / "wsgi"),
                "TETHER_WEBHOOK_WORKER": "false",
                "TETHER_LOG_FORMAT": fmt,
            },
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        line = next(ln for ln in out.stderr.splitlines() if "hello world" in ln)
        if fmt == "json":
            assert json.loads(line)["message"] == "hello world"
        else:
            with pytest.raises(ValueError):
                json.loads(line)


def check_require_decision_comment(env: Env, mp: pytest.MonkeyPatch) -> None:
    from tests.registry.helpers import create_model, register, request_stage, training_run

    for value, status in (("true", 400), ("false", 200)):
        app = env.app({"TETHER_REQUIRE_DECISION_COMMENT": value, "TETHER_DEFAULT_PERMISSION": "READ"})
        w, r = bearer(env.user(app, "wr", "writer")[1]), bearer(env.user(app, "rv", "reviewer")[1])
        client = app.test_client()
        run_id = training_run(client, w)
        create_model(client, w)
        register(client, w, "churn", run_id)
        req = request_stage(client, w, "churn", 1, "Production")
        resp = client.post(
            f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": " \t"}, headers=r
        )
        assert resp.status_code == status, resp.get_json()


def check_public_url(env: Env, mp: pytest.MonkeyPatch) -> None:
    app = env.app({"TETHER_PUBLIC_URL": "https://ml.example.com/tether/"})
    c = app.test_client()
    assert c.get("/tether/api/v1/health").status_code == 200  # a proxy that keeps the prefix
    assert c.get("/api/v1/health").status_code == 200  # a probe on the pod
    r = c.get("/tether/models", headers={"Accept": "text/html"})
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/tether/login")
    assert app.config["SESSION_COOKIE_PATH"] == "/tether/"
    # absolute download URLs: tests/cicd/test_reverse_proxy.py


def check_trusted_proxies(env: Env, mp: pytest.MonkeyPatch) -> None:
    forwarded = {"Accept": "text/html", "X-Forwarded-Prefix": "/p", "X-Forwarded-Host": "ml.example.com"}
    for hops, prefix in (("1", "/p/login"), ("0", "/login")):
        r = env.app({"TETHER_TRUSTED_PROXIES": hops}).test_client().get("/models", headers=forwarded)
        assert r.headers["Location"].startswith(prefix), (hops, r.headers["Location"])


def check_retries(env: Env, mp: pytest.MonkeyPatch) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from click.testing import CliRunner

    from tether.cli import main as tether_cli

    hits: list[str] = []

    class Busy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        for retries in ("0", "2"):
            hits.clear()
            mp.setenv("TETHER_URL", f"http://127.0.0.1:{srv.server_port}")
            mp.setenv("TETHER_TOKEN", "tth_" + "x" * 40)
            mp.setenv("TETHER_RETRIES", retries)
            r = CliRunner().invoke(tether_cli, ["runs", "create", "--experiment", "e"])
            assert r.exit_code == 1 and len(hits) == 1 + int(retries)
    finally:
        srv.shutdown()


def check_metrics(env: Env, mp: pytest.MonkeyPatch) -> None:
    assert env.app({}).test_client().get("/metrics").status_code == 404  # off by default
    c = env.app({"TETHER_METRICS": "open"}).test_client()
    c.get("/api/v1/health")
    body = c.get("/metrics").get_data(as_text=True)
    assert 'tether_http_requests_total{method="GET",route="/api/v1/health",status="200"} 1.0' in body


def check_metrics_token(env: Env, mp: pytest.MonkeyPatch) -> None:
    scrape = "scrape-token-" + "x" * 16
    c = env.app({"TETHER_METRICS": "token", "TETHER_METRICS_TOKEN": scrape}).test_client()
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers=bearer("scrape-token-wrong")).status_code == 401
    assert c.get("/metrics", headers=bearer(scrape)).status_code == 200


def _outage_run(env: Env, mp: pytest.MonkeyPatch, spool_env: dict[str, str], capsys: Any = None) -> Path:
    """Start a run, take the server away, log and end: returns the spool folder the SDK used."""
    import tether

    app = env.app({})
    _, tok = env.user(app, "w", "writer")
    for k, v in spool_env.items():
        mp.setenv(k, v)
    live = _live(app)
    url = next(live)
    client = tether.Client(url, token=tok, max_retries=0)
    run = tether.start_run("spool", client=client)
    next(live, None)  # the server goes away
    run.log_metric("loss", 1.0, step=1)
    run.end()
    return client.spool_dir


def check_spool_dir(env: Env, mp: pytest.MonkeyPatch) -> None:
    where = env.tmp / "my-spool"
    assert _outage_run(env, mp, {"TETHER_SPOOL_DIR": str(where), "TETHER_SPOOL_WAIT_SECONDS": "0"}) == where
    assert len(list(where.glob("*.jsonl"))) == 1


def check_spool_wait_seconds(env: Env, mp: pytest.MonkeyPatch) -> None:
    import tether

    mp.setenv("TETHER_SPOOL_WAIT_SECONDS", "2.5")
    assert tether.Client("http://127.0.0.1:1", token="t").spool_wait == 2.5
    mp.setenv("TETHER_SPOOL_WAIT_SECONDS", "soon")
    with pytest.raises(ValueError, match="TETHER_SPOOL_WAIT_SECONDS"):
        tether.Client("http://127.0.0.1:1", token="t")
    where = _outage_run(env, mp, {"TETHER_SPOOL_DIR": str(env.tmp / "w"), "TETHER_SPOOL_WAIT_SECONDS": "0"})
    entries = (next(where.glob("*.jsonl"))).read_text().splitlines()
    assert '"status":"FINISHED"' in entries[-1]  # with no wait, the end was spooled, not waited for


def check_cpu_affinity(env: Env, mp: pytest.MonkeyPatch) -> None:
    """On real `tether server` processes: ``on`` pins the workers one per allowed CPU, ``off`` leaves
    them on every CPU the master may use (``auto`` and a worker's replacement: tests/ops)."""
    from tests.ops.server_proc import ServerProcess, server_env
    from tests.ops.test_cpu_affinity import workers_of

    allowed = sorted(os.sched_getaffinity(0))
    for mode in ("on", "off"):
        data = env.tmp / f"affinity-{mode}"
        with ServerProcess(server_env(data, TETHER_CPU_AFFINITY=mode), workers=2, threads=1) as srv:
            assert srv.proc is not None
            masks = sorted(workers_of(srv.proc.pid, 2).values(), key=min)
        if mode == "on" and len(allowed) >= 2:
            assert masks == [{allowed[0]}, {allowed[1]}]
        else:
            assert masks == [set(allowed), set(allowed)]


CHECKS: dict[str, Callable[[Env, pytest.MonkeyPatch], None]] = {
    "TETHER_URL": check_url,
    "TETHER_TOKEN": check_token,
    "TETHER_CREDENTIALS_FILE": check_credentials_file,
    "TETHER_DATA_DIR": check_data_dir,
    "TETHER_DATABASE_URL": check_database_url,
    "TETHER_ARTIFACT_URI": check_artifact_uri,
    "TETHER_S3_ENDPOINT": check_s3_endpoint_and_keys,
    "TETHER_S3_ACCESS_KEY": check_s3_endpoint_and_keys,
    "TETHER_S3_SECRET_KEY": check_s3_endpoint_and_keys,
    "TETHER_S3_REGION": check_s3_region,
    "TETHER_S3_SECURE": check_s3_secure,
    "TETHER_S3_PRESIGN": check_s3_presign,
    "TETHER_SECRET_KEY": check_secret_key,
    "TETHER_ADMIN_TOKEN": check_admin_token,
    "TETHER_DEFAULT_PERMISSION": check_default_permission,
    "TETHER_AUTH_CACHE_SECONDS": check_auth_cache_seconds,
    "TETHER_MAX_CONTENT_LENGTH": check_max_content_length,
    "TETHER_MAX_BATCH_METRICS": check_max_batch_metrics,
    "TETHER_MAX_SEARCH_RESULTS": check_max_search_results,
    "TETHER_SESSION_COOKIE_SECURE": check_session_cookie_secure,
    "TETHER_LOGIN_MAX_FAILURES": check_login_max_failures,
    "TETHER_LOGIN_LOCKOUT_SECONDS": check_login_lockout_seconds,
    "TETHER_WEBHOOK_ALLOWLIST": check_webhook_allowlist,
    "TETHER_WEBHOOK_WORKER": check_webhook_worker,
    "TETHER_WEBHOOK_TIMEOUT_SECONDS": check_webhook_timeout_seconds,
    "TETHER_WEBHOOK_MAX_ATTEMPTS": check_webhook_max_attempts,
    "TETHER_WEBHOOK_RETRY_BASE_SECONDS": check_webhook_retry_base_seconds,
    "TETHER_WEBHOOK_POLL_SECONDS": check_webhook_poll_seconds,
    "TETHER_MONITOR_EVAL_SECONDS": check_monitor_eval_seconds,
    "TETHER_ABTEST_EVAL_SECONDS": check_abtest_eval_seconds,
    "TETHER_LOG_LEVEL": check_log_level,
    "TETHER_LOG_FORMAT": check_log_format,
    "TETHER_REQUIRE_DECISION_COMMENT": check_require_decision_comment,
    "TETHER_PUBLIC_URL": check_public_url,
    "TETHER_TRUSTED_PROXIES": check_trusted_proxies,
    "TETHER_CPU_AFFINITY": check_cpu_affinity,
    "TETHER_RETRIES": check_retries,
    "TETHER_METRICS": check_metrics,
    "TETHER_METRICS_TOKEN": check_metrics_token,
    "TETHER_SPOOL_DIR": check_spool_dir,
    "TETHER_SPOOL_WAIT_SECONDS": check_spool_wait_seconds,
}


@pytest.mark.parametrize("variable", readme_variables())
def test_readme_setting_is_honoured(variable: str, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    check = CHECKS.get(variable)
    assert check is not None, f"{variable} is in the README table but has no behaviour check in CHECKS"
    check(env, monkeypatch)


def test_every_server_setting_is_in_the_readme_and_checked() -> None:
    documented = set(readme_variables())
    assert set(Settings.ENV.values()) <= documented, "a Settings field's variable is missing from the README"
    assert set(CHECKS) == documented, "CHECKS and the README table disagree"


def test_bad_values_fail_at_startup_with_the_variable_name() -> None:
    from tether_server.config import ConfigError

    for var, bad in (
        ("TETHER_AUTH_CACHE_SECONDS", "-1"),
        ("TETHER_LOGIN_MAX_FAILURES", "0"),
        ("TETHER_WEBHOOK_POLL_SECONDS", "0"),
        ("TETHER_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("TETHER_LOG_LEVEL", "LOUD"),
        ("TETHER_ARTIFACT_URI", "s3://"),
        ("TETHER_PUBLIC_URL", "ml.example.com/tether"),
        ("TETHER_TRUSTED_PROXIES", "-1"),
        ("TETHER_CPU_AFFINITY", "always"),
        ("TETHER_MONITOR_EVAL_SECONDS", "31"),
        ("TETHER_MONITOR_EVAL_SECONDS", "-1"),
        ("TETHER_ABTEST_EVAL_SECONDS", "3601"),
        ("TETHER_ABTEST_EVAL_SECONDS", "-1"),
    ):
        with pytest.raises(ConfigError, match=var):
            Settings.from_env({var: bad})
