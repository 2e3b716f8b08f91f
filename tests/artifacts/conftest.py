"""S3 endpoints for the artifact tests: moto_server (fast, in-process) and a real S3 server
(Ceph RGW on CI) when TETHER_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY are set."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REAL = os.environ.get("TETHER_TEST_S3_ENDPOINT", "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _s3_params() -> list[Any]:
    return ["moto", pytest.param("real", marks=pytest.mark.s3)]


@pytest.fixture(params=_s3_params())
def s3_overrides(request: pytest.FixtureRequest, moto_endpoint: str) -> dict[str, Any]:
    """Settings fields pointing at a fresh bucket/prefix on one S3 server."""
    return s3_settings(request.param, moto_endpoint)


def s3_settings(kind: str, moto_endpoint: str) -> dict[str, Any]:
    bucket = f"tether-test-{uuid.uuid4().hex[:10]}"
    if kind == "moto":
        return {
            "artifact_uri": f"s3://{bucket}/pre/fix",
            "s3_endpoint": moto_endpoint,
            "s3_access_key": "testing",
            "s3_secret_key": "testing",
            "s3_region": "us-east-1",
        }
    if not REAL:
        if os.environ.get("CI") and os.environ.get("TETHER_TEST_REQUIRE_S3"):
            pytest.fail("TETHER_TEST_S3_ENDPOINT is not set on CI: the S3 server did not start")
        pytest.skip("no real S3 server (set TETHER_TEST_S3_ENDPOINT)")
    return {
        "artifact_uri": f"s3://{bucket}/pre/fix",
        "s3_endpoint": REAL,
        "s3_access_key": os.environ.get("TETHER_TEST_S3_ACCESS_KEY", ""),
        "s3_secret_key": os.environ.get("TETHER_TEST_S3_SECRET_KEY", ""),
    }
