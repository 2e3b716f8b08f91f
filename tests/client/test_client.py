from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tether
from tether.errors import APIConnectionError, APITimeoutError

from .fakes import Call, FakeServer, FakeTransport, error, reply


def scripted(*answers: Any) -> tuple[tether.Client, FakeTransport, list[float]]:
    """A client whose transport plays ``answers`` in order (an exception instance is raised)."""
    it: Iterator[Any] = iter(answers)

    def handler(call: Call) -> Any:
        a = next(it)
        if isinstance(a, BaseException):
            raise a
        return a

    t = FakeTransport(handler)
    c = tether.Client("http://x", token="t", transport=t, max_retries=3)
    sleeps: list[float] = []
    c._sleep = sleeps.append
    return c, t, sleeps


RUN = {"id": "r1", "experiment_id": 1}


def test_get_retries_503_honouring_retry_after() -> None:
    c, t, sleeps = scripted(reply(503, None, {"Retry-After": "7"}), reply(429), reply(200, RUN))
    assert c.runs.get("r1").id == "r1"
    assert len(t.calls) == 3 and sleeps[0] == 7.0 and 0 < sleeps[1] <= 1.0


@pytest.mark.parametrize(
    "failure", [APIConnectionError("down"), APITimeoutError("slow"), reply(502), reply(504)]
)
def test_get_retries_transient_failures(failure: Any) -> None:
    c, t, _ = scripted(failure, reply(200, RUN))
    assert c.runs.get("r1").id == "r1" and len(t.calls) == 2


def test_retries_are_bounded() -> None:
    c, t, sleeps = scripted(*[reply(503)] * 4)
    with pytest.raises(tether.UnavailableError):
        c.runs.get("r1")
    assert len(t.calls) == 4 and len(sleeps) == 3
    c, t, _ = scripted(*[APIConnectionError("x")] * 4)
    with pytest.raises(APIConnectionError):
        c.runs.get("r1")


def test_backoff_grows_with_jitter() -> None:
    c = tether.Client("http://x", token="t", transport=FakeTransport(lambda c: reply(200)))
    for attempt in range(6):
        d = c.retry.delay(attempt, None)
        full = min(c.retry.backoff_max, c.retry.backoff_base * 2**attempt)
        assert full / 2 <= d <= full
    assert c.retry.delay(0, "1000") == 60.0
    assert c.retry.delay(0, "Wed, 21 Oct 2015 07:28:00 GMT") <= 0.5


def test_plain_post_is_not_retried() -> None:
    c, t, _ = scripted(reply(503), reply(201, RUN))
    with pytest.raises(tether.UnavailableError):
        c.runs.create(1)
    c, t, _ = scripted(APIConnectionError("x"), reply(201, RUN))
    with pytest.raises(APIConnectionError):
        c.runs.create(1)
    assert len(t.calls) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key() -> None:
    ok = reply(200, {"metrics": 1, "params": 0, "tags": 0})
    c, t, _ = scripted(APIConnectionError("x"), reply(503), ok)
    res = c.runs.log_batch("r1", metrics=[("m", 1.0, 0, 1)])
    assert res.metrics == 1 and len(t.calls) == 3
    keys = {call.idempotency_key for call in t.calls}
    assert len(keys) == 1 and None not in keys


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500])
def test_client_errors_are_not_retried(status: int) -> None:
    c, t, _ = scripted(error(status, "X"), reply(200, RUN))
    with pytest.raises(tether.APIError):
        c.runs.get("r1")
    assert len(t.calls) == 1


def test_log_batch_splits_over_10k_and_derives_keys() -> None:
    ok = reply(200, {"metrics": 0, "params": 1, "tags": 0})
    c, t, _ = scripted(ok, ok, ok)
    c.runs.log_batch(
        "r1", metrics=[("m", float(i), i) for i in range(25_000)], params={"p": 1}, idempotency_key="k"
    )
    assert [len(call.body["metrics"]) for call in t.calls] == [10_000, 10_000, 5_000]
    assert [call.idempotency_key for call in t.calls] == ["k-0", "k-1", "k-2"]
    assert "params" in t.calls[0].body and "params" not in t.calls[1].body
    assert t.calls[2].body["metrics"][0]["step"] == 20_000


def test_experiment_list_is_lazy() -> None:
    pages = {
        None: {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "next_page_token": "t2"},
        "t2": {"items": [{"id": 3, "name": "c"}], "next_page_token": None},
    }
    t = FakeTransport(lambda call: reply(200, pages[call.params.get("page_token")]))
    c = tether.Client("http://x", token="t", transport=t)
    it = iter(c.experiments.list(lifecycle="all", page_size=2))
    assert t.calls == []
    assert next(it).name == "a" and next(it).name == "b" and len(t.calls) == 1
    assert [e.id for e in it] == [3] and len(t.calls) == 2
    assert t.calls[0].params == {"lifecycle": "all", "max_results": 2}
    assert [e.id for e in c.experiments.list(limit=1)] == [1]


def test_search_resolves_experiment_names_and_pages() -> None:
    def handler(call: Call) -> Any:
        if call.path == "/experiments":
            return reply(200, {"items": [{"id": 7, "name": call.params["name"]}], "next_page_token": None})
        tok = call.body.get("page_token")
        n = 0 if tok is None else int(tok)
        return reply(200, {"items": [{"id": f"r{n}", "experiment_id": 7}], "next_page_token": str(n + 1)})

    t = FakeTransport(handler)
    c = tether.Client("http://x", token="t", transport=t)
    runs = c.runs.search(
        experiment="churn", filter="metrics.auc > 0.9", order_by=["metrics.auc DESC"], max_results=3
    )
    assert [r.id for r in runs] == ["r0", "r1", "r2"]
    first = t.calls[1].body
    assert first == {
        "experiment_ids": [7],
        "filter": "metrics.auc > 0.9",
        "order_by": ["metrics.auc DESC"],
        "max_results": 3,
    }
    assert t.calls[-1].body["page_token"] == "2"


def test_search_page_size_capped_at_1000() -> None:
    t = FakeTransport(lambda call: reply(200, {"items": [], "next_page_token": None}))
    c = tether.Client("http://x", token="t", transport=t)
    assert c.runs.search(experiment_ids=[1, 2], max_results=5000) == []
    assert t.calls[0].body == {"experiment_ids": [1, 2], "max_results": 1000}


def test_get_or_create_experiment(server: FakeServer) -> None:
    c, _ = server.client()
    a = c.experiments.get_or_create("churn", tags={"x": 1})
    b = c.experiments.get_or_create("churn")
    assert a.id == b.id and a.tags == {"x": "1"}
    with pytest.raises(tether.NotFoundError):
        c.experiments.get_by_name("nope")


def test_run_crud_paths(server: FakeServer) -> None:
    c, t = server.client()
    run = c.runs.create(c.experiments.create("e").id, name="n", tags={"a": "b"}, start_time=5)
    assert t.calls[-1].body == {"experiment_id": 1, "name": "n", "tags": {"a": "b"}, "start_time": 5}
    done = c.runs.update(run.id, status="FINISHED", end_time=9)
    assert done.status == "FINISHED" and t.calls[-1].method == "PATCH"
    assert t.calls[-1].body == {"status": "FINISHED", "end_time": 9}
