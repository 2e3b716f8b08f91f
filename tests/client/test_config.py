from __future__ import annotations

import json
from pathlib import Path

import pytest

import tether
from tether._config import credentials_path, resolve_base_url, resolve_token, server_key

from .fakes import FakeTransport, reply


def write_creds(path: Path, servers: dict[str, str]) -> None:
    path.write_text(json.dumps({"servers": {u: {"token": t} for u, t in servers.items()}}))


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "creds.json"
    monkeypatch.setenv("TETHER_CREDENTIALS_FILE", str(path))
    return path


def test_base_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_URL", raising=False)
    assert resolve_base_url(None) == "http://127.0.0.1:5055"
    monkeypatch.setenv("TETHER_URL", "http://env:1/")
    assert resolve_base_url(None) == "http://env:1"
    assert resolve_base_url("https://arg:2/api/v1/") == "https://arg:2"
    assert tether.Client(token="t").api_url == "http://env:1/api/v1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://127.0.0.1:5055/", "http://localhost:5055"),
        ("http://LOCALHOST:5055", "http://127.0.0.1:5055/api/v1"),
        ("https://h.example:443/", "https://h.example"),
        ("http://h/prefix/", "http://h/prefix"),
    ],
)
def test_server_key_equivalences(a: str, b: str) -> None:
    assert server_key(a) == server_key(b)


def test_server_key_distinguishes_ports_and_hosts() -> None:
    assert server_key("http://127.0.0.1:5055") != server_key("http://127.0.0.1:5056")
    assert server_key("http://a:1") != server_key("http://b:1")


def test_token_from_credentials_file(creds: Path) -> None:
    write_creds(creds, {"http://127.0.0.1:5055/": "tth_local", "https://prod.example": "tth_prod"})
    assert resolve_token(None, "http://localhost:5055") == "tth_local"
    assert resolve_token(None, "http://127.0.0.1:5055") == "tth_local"
    assert resolve_token(None, "https://prod.example/") == "tth_prod"
    assert resolve_token(None, "http://other:5055") is None


def test_missing_or_broken_credentials_file(creds: Path) -> None:
    assert resolve_token(None, "http://127.0.0.1:5055") is None
    creds.write_text("{not json")
    assert resolve_token(None, "http://127.0.0.1:5055") is None
    creds.write_text(json.dumps({"servers": ["nope"]}))
    assert resolve_token(None, "http://127.0.0.1:5055") is None


def test_default_credentials_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TETHER_CREDENTIALS_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert credentials_path() == tmp_path / ".config" / "tether" / "credentials.json"


def test_token_precedence(creds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_creds(creds, {"http://127.0.0.1:5055": "from_file"})
    assert resolve_token(None, "http://127.0.0.1:5055") == "from_file"
    monkeypatch.setenv("TETHER_TOKEN", "from_env")
    assert resolve_token(None, "http://127.0.0.1:5055") == "from_env"
    assert resolve_token("from_arg", "http://127.0.0.1:5055") == "from_arg"


def test_authorization_header(creds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = FakeTransport(lambda c: reply(200, {"id": 1, "name": "e"}))
    tether.Client("http://localhost:5055", transport=t).experiments.get(1)
    assert "Authorization" not in t.calls[-1].headers
    write_creds(creds, {"http://127.0.0.1:5055": "tth_file"})
    tether.Client("http://localhost:5055", transport=t).experiments.get(1)
    assert t.calls[-1].headers["Authorization"] == "Bearer tth_file"
    monkeypatch.setenv("TETHER_TOKEN", "tth_env")
    tether.Client("http://localhost:5055", transport=t).experiments.get(1)
    assert t.calls[-1].headers["Authorization"] == "Bearer tth_env"


def test_client_validates_and_closes_transport() -> None:
    with pytest.raises(ValueError):
        tether.Client(timeout=0)
    t = FakeTransport(lambda c: reply(200, {}))
    with tether.Client(transport=t) as c:
        assert c.transport is t
    assert t.closed
