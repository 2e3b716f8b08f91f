"""Shared steps: explanations through the API, promotion through a reviewer."""

from __future__ import annotations

from typing import Any

from tests.registry.helpers import grant, request_stage, reviewer


def put_run(client: Any, headers: dict[str, str], run_id: str, body: Any, status: int = 200) -> Any:
    r = client.put(f"/api/v1/runs/{run_id}/explanation", json=body, headers=headers)
    assert r.status_code == status, r.get_data(as_text=True)
    return r.json


def put_version(client: Any, headers: dict[str, str], name: str, v: int, body: Any, status: int = 200) -> Any:
    r = client.put(f"/api/v1/models/{name}/versions/{v}/explanation", json=body, headers=headers)
    assert r.status_code == status, r.get_data(as_text=True)
    return r.json


def new_reviewer(
    client: Any, owner: dict[str, str], users: Any, model_id: int, name: str = "rita"
) -> dict[str, str]:
    uid, rev = reviewer(users, name)
    grant(client, owner, uid, model_id, "READ")
    return rev


def promote(client: Any, owner: dict[str, str], rev: dict[str, str], name: str, v: int) -> int:
    """Request Production and have the reviewer approve it; returns the transition id."""
    req = request_stage(client, owner, name, v, "Production")
    r = client.post(
        f"/api/v1/transition-requests/{req['id']}/approve", json={"comment": f"ok v{v}"}, headers=rev
    )
    assert r.status_code == 200 and r.json["status"] == "approved", r.json
    return int(req["id"])
