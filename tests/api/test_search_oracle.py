"""Search against a Python oracle on seeded data: ties on the sort value and on start_time, NaN and
missing metrics, deleted runs, an experiment the caller may not read and one opened by a grant, page by
page with tokens. Whatever shape the SQL takes (joins, index-driven order), the pages must be these."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from tests.api.helpers import new_experiment
from tests.conftest import bearer
from tether_server.services.tracking import search

AUCS: list[Any] = [0.2, 0.5, 0.9, 0.95, 0.95, 0.99, "NaN", None]  # ties; None: no auc logged


@pytest.fixture
def world(client, users):
    """ann's runs in two experiments (one of them opened to ben by a grant), ben's own runs."""
    a_id, a = users.create("ann", "writer")
    b_id, b = users.create("ben", "writer")
    rng = random.Random(7)
    exp_a = new_experiment(client, bearer(a), "ann-open")
    exp_hidden = new_experiment(client, bearer(a), "ann-closed")
    exp_b = new_experiment(client, bearer(b), "ben")
    grant = {"user_id": b_id, "resource_type": "experiment", "resource_id": str(exp_a), "level": "READ"}
    assert client.put("/api/v1/permissions", json=grant, headers=bearer(a)).status_code == 200
    runs = []
    for exp, token, n in ((exp_a, a, 40), (exp_hidden, a, 15), (exp_b, b, 25)):
        for i in range(n):
            auc = rng.choice(AUCS)
            depth = rng.choice(["4", "6", "6"])
            body: dict[str, Any] = {
                "experiment_id": exp,
                "name": f"r{len(runs)}",
                "start_time": 1000 + rng.randrange(6),  # ties on start_time too: the id decides
                "params": {"depth": depth},
                "metrics": [{"key": "f1", "value": rng.random()}]
                + ([] if auc is None else [{"key": "auc", "value": auc}]),
            }
            r = client.post("/api/v1/runs", json=body, headers=bearer(token))
            assert r.status_code == 201, r.json
            deleted = i % 9 == 4
            if deleted:
                assert client.delete(f"/api/v1/runs/{r.json['id']}", headers=bearer(token)).status_code == 200
            value = None if auc is None else (math.nan if auc == "NaN" else auc)
            runs.append(
                {
                    "id": r.json["id"],
                    "exp": exp,
                    "auc": value,
                    "depth": depth,
                    "start_time": body["start_time"],
                    "deleted": deleted,
                }
            )
    return {"ben": b, "readable": {exp_a, exp_b}, "exp_a": exp_a, "runs": runs}


def _auc(run: dict[str, Any]) -> float | None:
    v = run["auc"]
    return None if v is None or math.isnan(v) else v  # a NaN latest value sorts like a missing one


FILTERS: dict[str, Any] = {
    "metrics.auc > 0.5 and params.depth = '6'": lambda r: (
        _auc(r) is not None and _auc(r) > 0.5 and r["depth"] == "6"
    ),
    "params.depth = '6'": lambda r: r["depth"] == "6",
    "metrics.auc >= 0.9": lambda r: _auc(r) is not None and _auc(r) >= 0.9,
    "metrics.auc IS NULL or params.depth = '4'": lambda r: r["auc"] is None or r["depth"] == "4",
    "": lambda r: True,
}


def _expected(world: dict[str, Any], flt: str, desc: bool | None, experiments: set[int]) -> list[str]:
    rows = [r for r in world["runs"] if r["exp"] in experiments and not r["deleted"] and FILTERS[flt](r)]
    rows.sort(key=lambda r: r["id"])  # the tiebreak: start_time DESC, then id
    rows.sort(key=lambda r: r["start_time"], reverse=True)
    if desc is not None:
        have = [r for r in rows if _auc(r) is not None]
        have.sort(key=_auc, reverse=desc)  # stable: ties keep the tiebreak order
        rows = have + [r for r in rows if _auc(r) is None]  # missing last, both directions
    return [r["id"] for r in rows]


def _pages(client, token: str, body: dict[str, Any]) -> list[str]:
    got, page_token = [], None
    while True:
        r = client.post("/api/v1/runs/search", json={**body, "page_token": page_token}, headers=bearer(token))
        assert r.status_code == 200, r.json
        assert len(r.json["items"]) <= body["max_results"]
        got += [item["id"] for item in r.json["items"]]
        page_token = r.json["next_page_token"]
        if page_token is None:
            return got


def test_search_pages_match_the_oracle(client, world):
    _check_pages(client, world)


def test_head_and_edge_pages_match_the_oracle(client, world, monkeypatch):
    """The same pages when every search sorted by a required key goes through head + edge (which
    the server otherwise keeps for large PostgreSQL tables with many ties)."""
    monkeypatch.setattr(search, "_tie_heavy", lambda session, table: True)
    _check_pages(client, world)


def _check_pages(client, world) -> None:
    ben, checked = world["ben"], 0
    for flt in FILTERS:
        for desc in (True, False, None):
            order = [] if desc is None else [f"metrics.auc {'DESC' if desc else 'ASC'}"]
            for experiment_ids, size in ((None, 7), ([world["exp_a"]], 5), (None, 1000)):
                body: dict[str, Any] = {"filter": flt, "order_by": order, "max_results": size}
                if experiment_ids is not None:
                    body["experiment_ids"] = experiment_ids
                visible = world["readable"] if experiment_ids is None else set(experiment_ids)
                want = _expected(world, flt, desc, visible)
                assert _pages(client, ben, body) == want, (flt, desc, size)
                checked += len(want)
    assert checked > 300  # the seeded data gave every case something to order


def test_full_runs_on_a_page_hold_their_details(client, world):
    """Every item of a search page is the run as GET /runs/{id} returns it."""
    ben = world["ben"]
    r = client.post(
        "/api/v1/runs/search",
        json={"filter": "params.depth = '6'", "order_by": ["metrics.auc DESC"], "max_results": 20},
        headers=bearer(ben),
    )
    assert r.status_code == 200 and len(r.json["items"]) == 20
    for item in r.json["items"]:
        assert item == client.get(f"/api/v1/runs/{item['id']}", headers=bearer(ben)).json
