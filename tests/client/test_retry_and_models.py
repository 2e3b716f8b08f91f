"""The one retry policy (client, metric buffer, artifact transfer) and ``client.models`` over a fake
transport: typed results, shared paging, what is and is not retried."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import tether
from tether._artifacts import ArtifactTransfer
from tether._buffer import MetricBuffer
from tether._retry import RetryPolicy
from tether.errors import error_from_response

from .fakes import Call, FakeTransport, error, reply


@pytest.mark.parametrize(
    ("method", "key", "safe"),
    [
        ("GET", None, True),
        ("put", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", "k-1", True),
    ],
)
def test_only_idempotent_or_keyed_calls_are_safe(method: str, key: str | None, safe: bool) -> None:
    assert RetryPolicy.is_safe(method, key) is safe


def test_retryable_errors_and_retry_after() -> None:
    p = RetryPolicy()
    assert p.retryable_error(tether.APIConnectionError("down"))
    for status, ok in [(429, True), (502, True), (503, True), (504, True), (500, False), (409, False)]:
        assert p.retryable_error(error_from_response(status, b"{}")) is ok
    exc = error_from_response(503, b"", {"Retry-After": "7"})
    assert exc.retry_after == "7" and p.delay(0, exc.retry_after) == 7.0


def test_client_buffer_and_transfer_share_the_client_policy(tmp_path: Path) -> None:
    c = tether.Client("http://x", token="t", transport=FakeTransport(lambda call: reply(200)), max_retries=5)
    assert c.retry.max_retries == 5 == c.max_retries
    assert c.artifacts.transfer(progress=False).retry is c.retry
    run = tether.Run(c, tether.RunInfo(id="r1", experiment_id=1))
    assert run._buffer._retry is c.retry
    run._ended = True  # nothing to end on the fake server


def test_buffer_honours_retry_after_from_the_policy() -> None:
    sleeps: list[float] = []
    failures = [error_from_response(503, b"", {"Retry-After": "3"}), tether.APIConnectionError("x")]
    sent: list[str] = []
    lock = threading.Lock()

    def send(payload: Any, key: str) -> None:
        with lock:
            sent.append(key)
            if failures:
                raise failures.pop(0)

    policy = RetryPolicy(backoff_base=0.25, backoff_max=0.25, sleep=sleeps.append)
    buf = MetricBuffer(send, retry=policy, flush_interval=10.0)
    buf.put([("m", 1.0, 0, 1)])
    buf.flush()
    buf.close()
    assert len(sent) == 3 and len(set(sent)) == 1  # one idempotency key for every attempt
    assert sleeps[0] == 3.0 and 0.125 <= sleeps[1] <= 0.25


class FakeHTTP:
    """A ``requests.Session`` stand-in for ArtifactTransfer.put: plays statuses in order."""

    def __init__(self, statuses: list[tuple[int, dict[str, str]]]) -> None:
        self.statuses = statuses
        self.calls = 0

    def put(self, url: str, **kw: Any) -> Any:
        import requests

        kw["data"].read()
        status, headers = self.statuses[self.calls]
        self.calls += 1
        r = requests.Response()
        r.status_code, r._content = status, b"{}" if status < 300 else b""
        r.headers.update(headers)
        return r


def test_artifact_put_retries_with_the_policy(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    sleeps: list[float] = []
    http = FakeHTTP([(503, {"Retry-After": "2"}), (429, {}), (200, {})])
    t = ArtifactTransfer(http, "http://x", progress=False, retry=RetryPolicy(sleep=sleeps.append))  # type: ignore[arg-type]
    assert t.upload_file("r1", f) == {}
    assert http.calls == 3 and sleeps[0] == 2.0 and 0.5 <= sleeps[1] <= 1.0  # attempt 1: [d/2, d], d = 1
    http = FakeHTTP([(503, {})] * 2)
    t = ArtifactTransfer(
        http, "http://x", progress=False, retry=RetryPolicy(max_retries=1, sleep=sleeps.append)
    )  # type: ignore[arg-type]
    with pytest.raises(tether.UnavailableError):
        t.upload_file("r1", f)
    assert http.calls == 2


MODEL = {
    "id": 1,
    "name": "churn",
    "latest_version": 2,
    "stages": {"Production": [1]},
    "aliases": {"champ": 1},
}
REQ = {"id": 7, "model": "churn", "version": 1, "to_stage": "Production", "status": "pending"}


def registry(call: Call) -> Any:
    if call.method == "GET" and call.path == "/models":
        if call.params.get("page_token") is None:
            return reply(200, {"items": [MODEL], "next_page_token": "p2"})
        return reply(200, {"items": [{**MODEL, "id": 2, "name": "fraud"}], "next_page_token": None})
    if call.method == "GET" and call.path == "/transition-requests":
        if call.params.get("page_token") is None:
            return reply(200, {"items": [REQ], "next_page_token": "t2"})
        return reply(200, {"items": [{**REQ, "id": 8}], "next_page_token": None})
    if call.path == "/models/a%2Fb":
        return error(404, "NOT_FOUND")
    if call.method == "POST" and call.path == "/transition-requests/7/approve":
        return reply(200, {**REQ, "status": "approved", "approvals": [{"user": "rita", "comment": "ok"}]})
    if call.method == "POST" and call.path == "/transition-requests/7/reject":
        return reply(503)
    raise AssertionError(f"unexpected {call.method} {call.path}")


def test_models_are_typed_and_paged_lazily() -> None:
    t = FakeTransport(registry)
    c = tether.Client("http://x", token="t", transport=t, max_retries=2)
    c._sleep = lambda s: None
    models = c.models.list(page_size=1)
    assert t.calls == []  # nothing fetched before iteration
    got = list(models)
    assert [type(m) for m in got] == [tether.RegisteredModel] * 2
    assert [m.name for m in got] == ["churn", "fraud"] and got[0].stages == {"Production": [1]}
    assert [call.params.get("page_token") for call in t.calls] == [None, "p2"]
    assert [call.params.get("max_results") for call in t.calls] == [1, 1]
    reqs = c.models.list_requests(model="churn", limit=1).to_list()
    assert [r.id for r in reqs] == [7] and t.calls[-1].params["status"] == "pending"
    done = c.models.approve(7, comment="ok")
    assert isinstance(done, tether.TransitionRequest) and done.approvals[0].user == "rita"
    with pytest.raises(tether.NotFoundError):
        c.models.get("a/b")  # the name is one quoted path segment


def test_decisions_are_posts_and_never_retried() -> None:
    t = FakeTransport(registry)
    c = tether.Client("http://x", token="t", transport=t, max_retries=3)
    c._sleep = lambda s: None
    with pytest.raises(tether.UnavailableError):
        c.models.reject(7)
    assert len(t.calls) == 1


def test_old_dict_access_warns() -> None:
    m = tether.RegisteredModel.from_dict(MODEL)
    with pytest.warns(DeprecationWarning):
        assert m["name"] == "churn"
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError):
        m["nope"]
