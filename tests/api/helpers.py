from __future__ import annotations

from typing import Any


def new_experiment(client: Any, headers: dict[str, str], name: str = "exp", **extra: Any) -> int:
    r = client.post("/api/v1/experiments", json={"name": name, **extra}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


def new_run(client: Any, headers: dict[str, str], experiment_id: int, **extra: Any) -> str:
    r = client.post("/api/v1/runs", json={"experiment_id": experiment_id, **extra}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    body = resp.get_json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], dict)
    return err
