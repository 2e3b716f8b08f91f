"""The monitoring hot paths added for speed keep the contract: the fast summary check
accepts exactly what ``validate_summary`` accepts (and a refused post carries the validator's
message), a summary post is one statement on PostgreSQL, the column-wise rows body bins to the
same windows as the same rows posted row-wise (vectorised or not), with clear 400s for bad
columns, and the SDK sends columns column-wise. On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, select

from tests.client.test_monitoring_summary import REF, mixed_rows
from tests.conftest import bearer
from tests.monitoring.helpers import HOUR, T0, create_monitor, new_version, production_model, production_rows
from tether.monitoring import build_summary, validate_summary
from tether_server.models.monitoring import MonitorWindow
from tether_server.runtime import Runtime
from tether_server.services.monitoring.summary_check import accepts, layout_of

LAYOUT = layout_of(REF)


def _valid(s: Any) -> bool:
    try:
        validate_summary(REF, s)
    except (ValueError, OverflowError):
        return False
    return True


def _mutations(rng: random.Random, base: dict[str, Any]) -> Any:
    """Seeded single-field changes of a valid summary: wrong types, signs, sizes, keys, totals."""
    s = copy.deepcopy(base)
    col = rng.choice(list(s["columns"]))
    c = s["columns"][col]
    key = rng.choice([*c.keys(), "counts.i", "top", "n", "unexpected"])
    value = rng.choice([-1, 0, 1, 2.5, True, None, "1", 10**30, 2**41, math.nan, math.inf, [], {}, 10**400])
    if key == "top":
        s[rng.choice(["n", "format", "columns", "extra", "unexpected_columns"])] = value
    elif key == "n":
        s["n"] = s["n"] + rng.choice([-1, 1])
    elif key == "unexpected":
        s["unexpected_columns"] = {"z": value}
    elif key == "counts.i":
        c["counts"][rng.randrange(len(c["counts"]))] = value
    elif rng.random() < 0.1:
        del c[key]
    else:
        c[key] = value
    return s


def test_the_fast_check_accepts_exactly_what_the_validator_accepts() -> None:
    rng = random.Random(7)
    bases = [build_summary(REF, mixed_rows(300, seed=k)) for k in range(4)]
    bases.append(build_summary(REF, []))  # empty columns: min/max null
    agree, accepted = 0, 0
    for base in bases:
        assert accepts(LAYOUT, base) and _valid(base)
        for _ in range(400):
            s = _mutations(rng, base)
            fast, slow = accepts(LAYOUT, s), _valid(s)
            assert not fast or slow, s  # never accepts what the validator refuses
            big = any(isinstance(v, int) and v > 2**40 for v in _ints(s))
            if slow and not big:
                assert fast, s  # and takes every ordinary valid summary itself
            agree += fast == slow
            accepted += fast
    assert accepted > 50 and agree > 1500  # the mutations exercise both answers


def _ints(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for y in x.values() for v in _ints(y)]
    if isinstance(x, list):
        return [v for y in x for v in _ints(y)]
    return [x]


def _reference(client: Any, auth: dict[str, str], mid: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/monitors/{mid}/reference", headers=auth)
    assert r.status_code == 200
    return r.json


def _window_post(client: Any, auth: dict[str, str], mid: int, ref_id: int, summary: Any, **kw: Any) -> Any:
    body = {"reference_id": ref_id, "window_start": kw.get("ws", T0), "source": kw.get("source", "pod"),
            "summary": summary}  # fmt: skip
    return client.post(f"/api/v1/monitors/{mid}/windows", headers=auth, json=body)


def test_refused_summaries_carry_the_validators_message(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    ref = _reference(client, auth, mid)
    good = build_summary(ref["profile"], production_rows(np.random.default_rng(1), 300))
    bad = copy.deepcopy(good)
    bad["columns"]["age"]["counts"][2] = True
    with pytest.raises(ValueError) as e:
        validate_summary(ref["profile"], bad)
    r = _window_post(client, auth, mid, ref["reference_id"], bad)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_ARGUMENT"
    assert r.json["error"]["message"] == f"summary: {e.value}"
    huge = copy.deepcopy(good)  # an int the fast check leaves to the validator (beyond 2**40)
    huge["unexpected_columns"] = {"z": 1}
    huge["n"] += 2**41
    for c in huge["columns"].values():
        c["n"] += 2**41
        c["nulls" if c["kind"] == "categorical" else "above"] += 2**41
    r = _window_post(client, auth, mid, ref["reference_id"], huge, source="big")
    assert r.status_code == 200 and r.json["n"] == huge["n"]
    r = _window_post(client, auth, mid, ref["reference_id"], good)
    assert r.status_code == 200 and r.json["n"] == 300
    with Runtime.of(app).database.session(write=False) as s:
        stored = {
            w.source: w for w in s.scalars(select(MonitorWindow).where(MonitorWindow.monitor_id == mid))
        }
    assert stored["pod"].summary == good and stored["big"].summary == huge  # stored as posted


def _posted_once(app: Any, client: Any, auth: dict[str, str], seed: int, rows: int) -> tuple[int, Any, Any]:
    """A monitor on a production model with one window posted (its reference is then cached):
    (monitor id, reference, the summary posted)."""
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    ref = _reference(client, auth, mid)
    summary = build_summary(ref["profile"], production_rows(np.random.default_rng(seed), rows))
    assert _window_post(client, auth, mid, ref["reference_id"], summary, source="warm").status_code == 200
    return mid, ref, summary


def test_a_summary_post_is_one_statement_on_postgresql(
    app: Any, client: Any, auth: dict[str, str], backend: str
) -> None:
    mid, ref, summary = _posted_once(app, client, auth, seed=2, rows=200)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    engine = Runtime.of(app).database.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        r = _window_post(client, auth, mid, ref["reference_id"], summary, ws=T0 + HOUR)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert r.status_code == 200
    # one guarded write: the checks (monitor, grant, live version, newest reference, window) are
    # folded into it; SQLite then marks the result dirty in a second statement
    assert len(seen) == (1 if backend == "postgres" else 2), seen
    d = client.get(f"/api/v1/monitors/{mid}/drift?from={T0 + HOUR}&to={T0 + 2 * HOUR}", headers=auth).json
    assert [w["n"] for w in d["windows"]] == [200]  # the result row was marked for the window


def test_an_evaluator_holding_the_monitor_lock_does_not_block_posts(
    app: Any, client: Any, auth: dict[str, str], backend: str
) -> None:
    """The evaluator locks the monitor row against other evaluators (``lock_monitor``); a post
    whose foreign-key check takes FOR KEY SHARE on that row is not held up by it. Under FOR UPDATE
    it waited, and once the evaluator also locked the result row the post had upserted, the two
    deadlocked (a 503 under load)."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer: the evaluator's write transaction excludes every post")
    import threading

    from tether_server.services.monitoring.evaluate import lock_monitor

    mid, ref, summary = _posted_once(app, client, auth, seed=5, rows=100)
    answers: list[int] = []
    with Runtime.of(app).database.transaction() as s:
        assert lock_monitor(s, mid) is not None  # held until this block ends
        post = threading.Thread(
            target=lambda: answers.append(
                _window_post(
                    app.test_client(), auth, mid, ref["reference_id"], summary, source="p2"
                ).status_code
            )
        )
        post.start()
        post.join(20)
        done_while_locked = not post.is_alive()
    post.join(20)
    assert done_while_locked and answers == [200]


def test_the_guarded_post_answers_as_the_checked_path(
    app: Any, client: Any, auth: dict[str, str], users: Any
) -> None:
    """Once a reference is cached, a post is checked by its one guarded write; every post that
    write refuses gets the checked path's answer and leaves nothing stored."""
    setup = production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    ref = _reference(client, auth, mid)
    summary = build_summary(ref["profile"], production_rows(np.random.default_rng(4), 100))
    assert _window_post(client, auth, mid, ref["reference_id"], summary, source="warm").status_code == 200
    mallory = bearer(users.create("mallory", "writer")[1])
    uid, plain = users.create("reader", "viewer")
    grant = {
        "user_id": uid,
        "resource_type": "model",
        "resource_id": str(setup["model"]["id"]),
        "level": "READ",
    }
    assert client.put("/api/v1/permissions", headers=auth, json=grant).status_code in (200, 201)
    cases: list[tuple[dict[str, str], int, dict[str, Any], int, str]] = [
        (auth, mid, {"ws": T0 + 1}, 400, "window_start must be aligned to the window length (3600 s) in UTC"),
        (auth, mid, {"ws": T0 + 10**6 * HOUR}, 400, "window_start is in the future"),
        (auth, mid, {"ws": -HOUR}, 400, "window_start must be epoch milliseconds"),
        (auth, mid, {"source": "_x"}, 400, "source must be 1-200 characters, not starting with '_'"),
        (auth, mid + 1000, {}, 404, f"Monitor {mid + 1000} not found"),
        (mallory, mid, {}, 404, f"Monitor {mid} not found"),
        (bearer(plain), mid, {}, 403, "EDIT permission on this model is required"),
    ]
    for headers, target, kw, code, message in cases:
        r = _window_post(client, headers, target, ref["reference_id"], summary, **kw)
        assert (r.status_code, r.json["error"]["message"]) == (code, message), (kw, r.json)
    v2 = new_version(app, client, auth, "churn", seed=5)
    r = _window_post(client, auth, mid, ref["reference_id"], summary)
    assert r.status_code == 409 and r.json["error"]["code"] == "FAILED_PRECONDITION"
    current = r.json["error"]["details"]["reference"]
    assert current["model_version"] == v2 and current["reference_id"] != ref["reference_id"]
    assert set(_stored_sources(app, mid)) == {(T0, "warm")}
    fresh = build_summary(current["profile"], production_rows(np.random.default_rng(4), 100))
    for _ in range(2):  # the checked path (reference not cached yet), then the guarded one
        r = _window_post(client, auth, mid, current["reference_id"], fresh, ws=T0 + HOUR)
        assert r.status_code == 200
        assert r.json == {"monitor_id": mid, "window_start": T0 + HOUR, "source": "pod", "n": 100,
                          "reference_id": current["reference_id"]}  # fmt: skip
    assert set(_stored_sources(app, mid)) == {(T0, "warm"), (T0 + HOUR, "pod")}


def _stored_sources(app: Any, mid: int) -> list[tuple[int, str]]:
    with Runtime.of(app).database.session(write=False) as s:
        rows = s.scalars(select(MonitorWindow).where(MonitorWindow.monitor_id == mid))
        return [(w.window_start, w.source) for w in rows]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = list(rows[0])
    return {k: [r[k] for r in rows] for k in keys}


def _stored(app: Any, mid: int) -> dict[int, dict[str, Any]]:
    with Runtime.of(app).database.session(write=False) as s:
        return {
            w.window_start: w.summary
            for w in s.scalars(select(MonitorWindow).where(MonitorWindow.monitor_id == mid))
        }


@pytest.mark.parametrize("general", [False, True], ids=["vectorised", "general"])
def test_column_wise_rows_bin_like_the_same_rows(
    app: Any, client: Any, auth: dict[str, str], general: bool
) -> None:
    production_model(app, client, auth)
    rng = np.random.default_rng(3)
    n = 1500
    rows = [{"age": a, "income": b, "timestamp": int(t)} for a, b, t in zip(
        rng.normal(40, 10, n).tolist(), rng.lognormal(10, 0.5, n).tolist(), T0 + rng.integers(0, 3 * HOUR, n),
        strict=True)]  # fmt: skip
    if general:  # a null and a numeric string send the body down the row-by-row path
        rows[5]["age"], rows[9]["income"] = None, "12.5"
    by_rows = create_monitor(client, auth, name="by-rows", columns=["age", "income"])["id"]
    by_cols = create_monitor(client, auth, name="by-cols", columns=["age", "income"])["id"]
    a = client.post(f"/api/v1/monitors/{by_rows}/rows", headers=auth, json={"rows": rows})
    b = client.post(f"/api/v1/monitors/{by_cols}/rows", headers=auth, json={"columns": _columns(rows)})
    assert a.status_code == b.status_code == 200, (a.json, b.json)
    assert a.json["windows"] == b.json["windows"] and b.json["rows"] == n
    sa, sb = _stored(app, by_rows), _stored(app, by_cols)
    assert sa == sb and len(sa) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": {}}, "columns"),
        ({"columns": {"age": [1.0, 2.0], "income": [1.0]}}, "columns"),
        ({"columns": {"age": 1.0}}, "columns.age"),
        ({"columns": {"age": [1.0] * 10_001}}, "columns"),
        ({"columns": {"age": [1.0]}, "rows": [{"age": 1.0}]}, "columns"),
        ({"columns": {"age": [1.0], "timestamp": [-5]}}, "rows[0].timestamp"),
    ],
)
def test_bad_column_bodies_are_400(
    app: Any, client: Any, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    r = client.post(f"/api/v1/monitors/{mid}/rows", headers=auth, json=body)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_ARGUMENT", r.json
    assert r.json["error"]["details"]["field"] == field


def test_the_sdk_sends_columns_column_wise(
    app: Any, client: Any, auth: dict[str, str], writer: tuple[int, str], live_server: str
) -> None:
    import tether

    production_model(app, client, auth)
    by_rows = create_monitor(client, auth, name="sdk-rows", columns=["age"])["id"]
    by_cols = create_monitor(client, auth, name="sdk-cols", columns=["age"])["id"]
    rng = np.random.default_rng(4)
    age, ts = rng.normal(40, 10, 12_000), T0 + rng.integers(0, HOUR, 12_000)
    sent: list[Any] = []
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        original = sdk.request

        def spy(method: str, path: str, **kw: Any) -> Any:
            sent.append(kw.get("json"))
            return original(method, path, **kw)

        sdk.request = spy  # type: ignore[method-assign]
        out = sdk.monitors.post_rows(by_cols, {"age": age, "timestamp": ts})  # numpy arrays
        assert [o["rows"] for o in out] == [10_000, 2_000]
        assert len(sent) == 2 and all(set(b) == {"columns"} for b in sent)
        rows = [{"age": a, "timestamp": t} for a, t in zip(age.tolist(), ts.tolist(), strict=True)]
        sdk.monitors.post_rows(by_rows, rows)
        assert set(sent[-1]) == {"rows"}
        with pytest.raises(ValueError):
            sdk.monitors.post_rows(by_cols, {"age": [1.0], "timestamp": [T0, T0]})
    assert _stored(app, by_rows) == _stored(app, by_cols)
