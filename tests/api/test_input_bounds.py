"""Out-of-range input on runs and experiments is a 4xx, never a 500 (regressions found by tests/test_api_fuzz.py).

Ids are INTEGER columns and times BIGINT: a larger value used to reach the driver (SQLite OverflowError,
PostgreSQL "integer out of range") and answer 500. PostgreSQL also refuses NUL in text (a DataError).
"""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, new_experiment, new_run

TOO_BIG_ID = 2**31  # one past INTEGER
TOO_BIG_TIME = 2**63  # one past BIGINT


@pytest.mark.parametrize(
    "body",
    [
        {"experiment_id": TOO_BIG_ID},
        {"experiment_id": -(2**31) - 1},
        {"experiment_id": 1, "start_time": TOO_BIG_TIME},
    ],
)
def test_run_create_rejects_integers_outside_their_column(client, auth, body):
    err = assert_error(client.post("/api/v1/runs", json=body, headers=auth), 400, "INVALID_ARGUMENT")
    assert set(err["details"]["fields"]["json"]) <= {"experiment_id", "start_time"}


def test_run_update_and_search_reject_integers_outside_their_column(client, auth):
    rid = new_run(client, auth, new_experiment(client, auth))
    r = client.patch(f"/api/v1/runs/{rid}", json={"end_time": TOO_BIG_TIME}, headers=auth)
    assert "end_time" in assert_error(r, 400, "INVALID_ARGUMENT")["details"]["fields"]["json"]
    r = client.post("/api/v1/runs/search", json={"experiment_ids": [TOO_BIG_ID]}, headers=auth)
    assert_error(r, 400, "INVALID_ARGUMENT")
    r = client.post("/api/v1/runs/search", json={"experiment_ids": [2**31 - 1]}, headers=auth)
    assert r.status_code == 200 and r.json["items"] == []


@pytest.mark.parametrize("eid", [str(TOO_BIG_ID), str(2**63), "9" * 40])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_huge_id_in_the_url_is_not_found_for_every_method(client, auth, eid, method):
    # 404 (not 405): the route converter refuses the value before any method is considered
    r = getattr(client, method)(f"/api/v1/experiments/{eid}", json={"name": "x"}, headers=auth)
    assert_error(r, 404, "NOT_FOUND")
    assert_error(
        getattr(client, method)(f"/api/v1/experiments/{2**31 - 1}", json={"name": "x"}, headers=auth),
        404,
        "NOT_FOUND",
    )


@pytest.mark.parametrize("size", ["0", "-1", "1001"])
def test_experiment_list_page_size_is_validated(client, auth, size):
    new_experiment(client, auth)
    r = client.get(f"/api/v1/experiments?max_results={size}", headers=auth)
    assert "max_results" in assert_error(r, 400, "INVALID_ARGUMENT")["details"]["fields"]["query"]


def test_nul_character_is_never_a_500(client, auth, backend):
    # one rule on both databases (PostgreSQL text cannot hold NUL): refused, naming the field, nothing stored
    r = client.post("/api/v1/experiments", json={"name": "nul", "description": "a\x00b"}, headers=auth)
    assert assert_error(r, 400, "INVALID_ARGUMENT")["details"]["field"] == "description"
    assert client.get("/api/v1/experiments", headers=auth).json["items"] == []
