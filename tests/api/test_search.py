from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import text

from tests.api.helpers import assert_error, new_experiment, new_run
from tether_server.runtime import Runtime


@pytest.fixture
def seeded(client, auth):
    eid = new_experiment(client, auth, "search")
    runs = {}
    for i, (auc, depth, team) in enumerate(
        [
            (0.95, "6", "growth"),
            (0.91, "8", "growth"),
            (0.85, "6", "core"),
            (0.99, "6", "core"),
            ("NaN", "6", "core"),
        ]
    ):
        rid = new_run(client, auth, eid, name=f"r{i}", start_time=1000 + i)
        body = {
            "params": {"depth": depth},
            "tags": {"team": team},
            "metrics": [{"key": "auc", "value": auc, "step": 1}, {"key": "train/loss", "value": 1 - i / 10}],
        }
        assert client.post(f"/api/v1/runs/{rid}/batch", json=body, headers=auth).status_code == 200
        runs[f"r{i}"] = rid
    return eid, runs


def _names(resp):
    assert resp.status_code == 200, resp.json
    return [r["name"] for r in resp.json["items"]]


def test_issue_example(client, auth, seeded):
    eid, _ = seeded
    r = client.post(
        "/api/v1/runs/search",
        headers=auth,
        json={
            "experiment_ids": [eid],
            "filter": "metrics.auc > 0.9 and params.depth = '6'",
            "order_by": ["metrics.auc DESC"],
            "max_results": 10,
        },
    )
    assert _names(r) == ["r3", "r0"]
    item = r.json["items"][0]
    assert item["params"] == {"depth": "6"} and item["metrics"]["auc"]["value"] == 0.99


@pytest.mark.parametrize(
    "flt,expected",
    [
        ("metrics.`train/loss` < 0.75", ["r4", "r3"]),
        ("tags.team = 'growth' OR metrics.auc >= 0.99", ["r3", "r1", "r0"]),
        ("(tags.team = 'core' AND params.depth IN ('6')) AND metrics.auc < 0.9", ["r2"]),
        ("name LIKE 'r%' AND status = 'RUNNING' AND metrics.auc IS NOT NULL", ["r4", "r3", "r2", "r1", "r0"]),
        ("tags.team ILIKE 'GROW%'", ["r1", "r0"]),
    ],
)
def test_filters(client, auth, seeded, flt, expected):
    eid, _ = seeded
    assert (
        _names(
            client.post("/api/v1/runs/search", json={"experiment_ids": [eid], "filter": flt}, headers=auth)
        )
        == expected
    )


def test_paging_with_opaque_tokens(client, auth, seeded):
    eid, _ = seeded
    body = {"experiment_ids": [eid], "order_by": ["metrics.auc ASC"], "max_results": 2}
    seen, token = [], None
    while True:
        r = client.post("/api/v1/runs/search", json={**body, "page_token": token}, headers=auth)
        seen += _names(r)
        token = r.json["next_page_token"]
        if not token:
            break
    assert seen == ["r2", "r1", "r0", "r3", "r4"]  # NaN sorts with the missing values, last
    # a token belongs to its query
    r = client.post("/api/v1/runs/search", headers=auth, json={"experiment_ids": [eid], "max_results": 2})
    assert_error(
        client.post(
            "/api/v1/runs/search",
            json={"experiment_ids": [eid], "filter": "name = 'x'", "page_token": r.json["next_page_token"]},
            headers=auth,
        ),
        400,
        "INVALID_ARGUMENT",
    )


def test_parse_error_has_position(client, auth, seeded):
    err = assert_error(
        client.post("/api/v1/runs/search", json={"filter": "metrics.auc >> 1"}, headers=auth),
        400,
        "INVALID_ARGUMENT",
    )
    assert err["details"]["position"] == 13


@pytest.mark.parametrize(
    "body",
    [
        {"max_results": 1001},
        {"max_results": 0},
        {"order_by": ["metrics.x SIDEWAYS"]},
        {"filter": "params.x = 'a'; DROP TABLE runs"},
        {"experiment_ids": "1"},
    ],
)
def test_bad_search_requests(client, auth, seeded, body):
    assert_error(client.post("/api/v1/runs/search", json=body, headers=auth), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "flt,order_by,expected",
    [
        ("metrics.auc > 0.8", ["metrics.auc ASC"], ["r2", "r1", "r0", "r3"]),
        (
            "metrics.auc > 0.8 AND params.depth = '6'",
            ["params.depth DESC", "metrics.auc DESC"],
            ["r3", "r0", "r2"],
        ),
        ("params.depth = '6' AND tags.team = 'core'", ["metrics.auc DESC"], ["r3", "r2", "r4"]),  # NaN last
        ("metrics.auc IS NOT NULL AND NOT tags.team = 'growth'", ["metrics.auc"], ["r2", "r3", "r4"]),
    ],
)
def test_filter_and_order_page_by_page(client, auth, seeded, flt, order_by, expected):
    eid, _ = seeded
    body = {"experiment_ids": [eid], "filter": flt, "order_by": order_by, "max_results": 1}
    seen, token = [], None
    while True:
        r = client.post("/api/v1/runs/search", json={**body, "page_token": token}, headers=auth)
        seen += _names(r)
        token = r.json["next_page_token"]
        if not token:
            break
    assert seen == expected


def test_search_does_not_wait_for_the_write_lock(app, client, auth, backend):
    """POST /runs/search only reads: it must answer while another transaction holds the write
    lock (SQLite's is global: a search that took it would stall every training script)."""
    import threading

    from sqlalchemy import text

    exp_id = new_experiment(client, auth, "locked")
    new_run(client, auth, exp_id, name="r")
    writer = Runtime.of(app).database.session()
    writer.execute(text("UPDATE experiments SET description = 'held' WHERE id = :e"), {"e": exp_id})
    out = {}
    t = threading.Thread(
        target=lambda: out.update(
            r=client.post("/api/v1/runs/search", json={"experiment_ids": [exp_id]}, headers=auth)
        )
    )
    t.start()
    t.join(10)
    alive = t.is_alive()
    writer.rollback()
    writer.close()
    t.join(30)
    assert not alive, "search waited for the write lock"
    assert out["r"].status_code == 200 and [r["name"] for r in out["r"].json["items"]] == ["r"]


def test_run_details_same_on_repeat_and_prepared_on_postgresql(app, client, auth, seeded, backend):
    """A page's params, tags and latest metrics come from one statement (``runs.run_details``). On
    PostgreSQL it is a prepared statement of the connection: the answer on the second call (the
    prepared plan) must equal the first and what was logged, NaN included."""
    from tether_server.services.tracking.runs import run_details

    _, runs = seeded
    ids = sorted(runs.values())
    with Runtime.of(app).database.session(write=False) as s:
        rows = [SimpleNamespace(id=i) for i in ids]  # run_details reads only the id
        first = run_details(s, rows)
        second = run_details(s, rows)
        assert second.keys() == first.keys() == set(ids)
        assert repr(second) == repr(first)  # repr: NaN != NaN, but its text is the same
        r0, r4 = first[runs["r0"]], first[runs["r4"]]
        assert r0["params"] == {"depth": "6"} and r0["tags"] == {"team": "growth"}
        assert r0["metrics"]["auc"]["value"] == 0.95 and r0["metrics"]["auc"]["step"] == 1
        assert r4["metrics"]["auc"]["value"] != r4["metrics"]["auc"]["value"]  # NaN
        assert r4["metrics"]["train/loss"]["value"] == pytest.approx(0.6)
        if backend == "postgres":
            statements = s.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
            assert any("FROM latest_metrics" in q and "UNION ALL" in q for q in statements), statements
