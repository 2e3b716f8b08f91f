"""Unit tests for the SDK: no server, a fake transport instead."""

from __future__ import annotations

import sys
from pathlib import Path

CLIENT_DIR = str(Path(__file__).resolve().parents[2] / "client")
if CLIENT_DIR not in sys.path:  # a stale editable install may map ``tether`` as a namespace package
    sys.path.insert(0, CLIENT_DIR)
    if "tether" in sys.modules and getattr(sys.modules["tether"], "__file__", None) is None:
        del sys.modules["tether"]

import pytest  # noqa: E402

from .fakes import FakeServer, FakeTransport  # noqa: E402


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def transport(server: FakeServer) -> FakeTransport:
    return FakeTransport(server.handle)
