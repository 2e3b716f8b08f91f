"""Tether behind a real (small, threaded) reverse proxy at /tether: the API, the SDK, the CLI and the
UI's links, assets, redirects and cookie all carry the prefix; deployment download URLs use the
public URL; forwarded headers count only when trusted; the CLI retries a flaky hop."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

import tether
from tests.cicd.reverse_proxy import ReverseProxy, free_port

PROXY_PORT = free_port()
PUBLIC = f"http://127.0.0.1:{PROXY_PORT}/tether"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"default_permission": "READ", "public_url": PUBLIC, "trusted_proxies": 1}


@pytest.fixture
def proxy(live_server: str):
    p = ReverseProxy(live_server, "/tether", port=PROXY_PORT)
    yield p
    p.close()


def _register(srv, cli, tmp_path, name: str = "px") -> None:
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "w.bin").write_bytes(b"weights-through-the-proxy")
    run_id = cli("runs", "create", "--experiment", "px").stdout.strip()
    assert (
        cli(
            "runs",
            "log",
            run_id,
            "-m",
            "auc=0.9",
            "--artifact",
            str(tmp_path / "model"),
            "--artifact-path",
            "model",
        ).exit_code
        == 0
    )
    assert (
        cli(
            "models", "register", "--run", run_id, "--path", "model", "--name", name, "--alias", "live"
        ).exit_code
        == 0
    )


def test_api_sdk_and_cli_through_the_prefix(proxy, tether_srv, cli, tmp_path):
    assert requests.get(f"{PUBLIC}/api/v1/health", timeout=10).json()["status"] == "ok"
    with tether.Client(PUBLIC, token=tether_srv.writer) as c:  # the SDK, pointed at the public URL
        exp = c.experiments.get_or_create("via-proxy")
        assert exp.name == "via-proxy"
    env = {"TETHER_URL": PUBLIC}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"weights-through-the-proxy")
    run_id = cli("runs", "create", "--experiment", "via-proxy", env=env).stdout.strip()
    assert (
        cli(
            "runs",
            "log",
            run_id,
            "-m",
            "auc=0.9",
            "--artifact",
            str(tmp_path / "model"),
            "--artifact-path",
            "model",
            env=env,
        ).exit_code
        == 0
    )
    r = cli(
        "models", "register", "--run", run_id, "--path", "model", "--name", "px", "--alias", "live", env=env
    )
    assert r.exit_code == 0, r.stderr
    # the deployment response links to the public URL, whichever way the request came in
    for base in (PUBLIC, tether_srv.url):
        dep = requests.get(
            f"{base}/api/v1/models/px/aliases/live",
            headers={"Authorization": f"Bearer {tether_srv.writer}"},
            timeout=10,
        ).json()
        assert dep["files"][0]["download_url"] == f"{PUBLIC}/api/v1/models/px/versions/1/files/w.bin"
        assert dep["archive_url"].startswith(PUBLIC + "/")
    r = cli(
        "models",
        "fetch",
        "--name",
        "px",
        "--alias",
        "live",
        "--dst",
        str(tmp_path / "out"),
        "--json",
        env=env,
    )
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "w.bin").read_bytes() == b"weights-through-the-proxy"
    assert all(p.startswith("/tether/") for _, p in proxy.seen)
    assert any(p.startswith("/tether/api/v1/models/px/versions/1/files/") for _, p in proxy.seen)


def test_ui_links_assets_redirects_and_cookie_carry_the_prefix(proxy, users):
    users.create("uma", "writer", password="correct horse battery")
    s = requests.Session()
    r = s.get(f"{PUBLIC}/models", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/tether/login?next=")
    page = s.get(f"{PUBLIC}/login", timeout=10)
    assert page.status_code == 200
    css = re.search(r'href="([^"]+\.css)"', page.text).group(1)
    assert css.startswith("/tether/")
    assert s.get(f"http://127.0.0.1:{PROXY_PORT}{css}", timeout=10).status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form[^>]*action="([^"]*)"', page.text)
    assert action is None or action.group(1).startswith("/tether/") or action.group(1) == ""
    r = s.post(
        f"{PUBLIC}/login?next=/models",
        data={"username": "uma", "password": "correct horse battery", "csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code in (302, 303) and r.headers["Location"] == "/tether/models"
    cookie = next(c for c in s.cookies if c.name == "tether_session")
    assert cookie.path == "/tether/"
    home = s.get(f"{PUBLIC}/", timeout=10)
    assert home.status_code == 200
    hrefs = re.findall(r'(?:href|src|action)="(/[^"]*)"', home.text)
    assert hrefs and all(h.startswith("/tether/") for h in hrefs), [
        h for h in hrefs if not h.startswith("/tether/")
    ]
    assert 'data-root="/tether"' in home.text
    for script in re.findall(r'<script[^>]*src="([^"]+)"', home.text):
        assert s.get(f"http://127.0.0.1:{PROXY_PORT}{script}", timeout=10).status_code == 200


def test_cli_retries_a_flaky_hop(proxy, tether_srv, cli):
    proxy.fail_next[("POST", "/api/v1/runs")] = 2
    r = cli("runs", "create", "--experiment", "flaky", env={"TETHER_URL": PUBLIC, "TETHER_RETRIES": "3"})
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("retrying") == 2
    runs = tether_srv.api("POST", "/runs/search", json={"filter": "status = 'RUNNING'"})["items"]
    assert [x["id"] for x in runs] == [r.stdout.strip()]  # exactly one run despite the retries
    proxy.fail_next[("POST", "/api/v1/runs")] = 5
    r = cli("runs", "create", "--experiment", "flaky", env={"TETHER_URL": PUBLIC, "TETHER_RETRIES": "1"})
    assert r.exit_code == 1 and "503" in r.stderr


def test_cli_gives_up_on_a_dead_server_with_exit_1(cli):
    r = cli(
        "runs",
        "create",
        "--experiment",
        "x",
        env={"TETHER_URL": f"http://127.0.0.1:{free_port()}", "TETHER_RETRIES": "1"},
    )
    assert r.exit_code == 1 and "Connection refused" in r.stderr and "Traceback" not in r.stderr


class TestForwardedHeaders:
    """Without TETHER_PUBLIC_URL, absolute URLs follow trusted X-Forwarded-* (and only trusted ones)."""

    @pytest.fixture
    def settings_overrides(self, request) -> dict[str, Any]:
        return {"default_permission": "READ", "trusted_proxies": request.param}

    @pytest.mark.parametrize("settings_overrides", [1], indirect=True)
    def test_stripping_proxy_with_forwarded_prefix(
        self, live_server, tether_srv, cli, tmp_path, settings_overrides
    ):
        p = ReverseProxy(
            live_server, "/ml", strip=True, forwarded_proto="https", forwarded_host="ml.example.com"
        )
        try:
            _register(tether_srv, cli, tmp_path)
            dep = requests.get(
                f"{p.url}/api/v1/models/px/aliases/live",
                headers={"Authorization": f"Bearer {tether_srv.writer}"},
                timeout=10,
            ).json()
            assert (
                dep["files"][0]["download_url"]
                == "https://ml.example.com/ml/api/v1/models/px/versions/1/files/w.bin"
            )
            r = requests.get(
                f"{p.url}/models", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10
            )
            assert r.headers["Location"].startswith("/ml/login")
        finally:
            p.close()

    @pytest.mark.parametrize("settings_overrides", [0], indirect=True)
    def test_untrusted_forwarded_headers_are_ignored(
        self, live_server, tether_srv, cli, tmp_path, settings_overrides
    ):
        _register(tether_srv, cli, tmp_path)
        forged = {
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Prefix": "/x",
        }
        dep = requests.get(
            f"{live_server}/api/v1/models/px/aliases/live",
            headers={"Authorization": f"Bearer {tether_srv.writer}", **forged},
            timeout=10,
        ).json()
        assert dep["files"][0]["download_url"] == f"{live_server}/api/v1/models/px/versions/1/files/w.bin"


def test_settings_validation():
    from tether_server.config import ConfigError, Settings

    s = Settings.from_env(
        {"TETHER_PUBLIC_URL": "https://ml.example.com/tether/", "TETHER_TRUSTED_PROXIES": "2"}
    )
    assert (
        s.public_url == "https://ml.example.com/tether"
        and s.url_prefix == "/tether"
        and s.trusted_proxies == 2
    )
    assert Settings.from_env({}).url_prefix == ""
    for env in (
        {"TETHER_PUBLIC_URL": "ml.example.com"},
        {"TETHER_PUBLIC_URL": "https://x/t?a=1"},
        {"TETHER_TRUSTED_PROXIES": "-1"},
        {"TETHER_TRUSTED_PROXIES": "two"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(env)
    assert json.dumps(s.url_prefix)
