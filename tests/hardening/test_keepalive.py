"""Early answers never poison a keep-alive connection (real gunicorn): a replayed batch, a 401, 403,
404, 409 and 413 given before the request body was read are each followed, many times, by another
request on the same ``requests`` session, which must succeed; the 413 itself is a readable JSON body."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import requests

from .live import tether_server

REPEAT = 12
MAX_BODY = 256 * 1024


def _batch(n: int) -> dict[str, Any]:
    return {"metrics": [{"key": "m", "value": float(i), "step": i, "timestamp": 1} for i in range(n)]}


def test_early_answers_keep_the_connection_usable(tmp_path: Path, server_db_url: str) -> None:
    env = {"TETHER_MAX_CONTENT_LENGTH": str(MAX_BODY), "TETHER_WEBHOOK_WORKER": "false"}
    with tether_server(tmp_path / "data", server_db_url, env_extra=env) as srv:
        s = requests.Session()
        admin = {"Authorization": f"Bearer {srv.token}"}
        api = srv.url + "/api/v1"
        eid = s.post(f"{api}/experiments", json={"name": "ka"}, headers=admin).json()["id"]
        rid = s.post(f"{api}/runs", json={"experiment_id": eid}, headers=admin).json()["id"]
        viewer = s.post(
            f"{api}/users", json={"name": "vic", "role": "viewer", "token_name": "t"}, headers=admin
        )
        vh = {"Authorization": f"Bearer {viewer.json()['token']}"}
        assert s.put(f"{api}/runs/{rid}/artifacts/taken.bin", data=b"x", headers=admin).status_code == 201
        key = uuid.uuid4().hex
        batch = _batch(2000)  # ~100 KB: under the limit
        first = s.post(f"{api}/runs/{rid}/batch", json=batch, headers={**admin, "Idempotency-Key": key})
        assert first.status_code == 200, first.text
        blob = b"b" * (1024 * 1024)
        cases = {
            "replay": lambda: s.post(
                f"{api}/runs/{rid}/batch", json=batch, headers={**admin, "Idempotency-Key": key}
            ),
            "401": lambda: s.post(
                f"{api}/runs/{rid}/batch", json=batch, headers={"Authorization": "Bearer no"}
            ),
            "403": lambda: s.post(f"{api}/runs/{rid}/batch", json=batch, headers=vh),
            "404": lambda: s.put(f"{api}/runs/{'0' * 32}/artifacts/x.bin", data=blob, headers=admin),
            "409": lambda: s.put(f"{api}/runs/{rid}/artifacts/taken.bin", data=blob, headers=admin),
            "413": lambda: s.post(f"{api}/runs/{rid}/batch", json=_batch(10_000), headers=admin),
        }
        expect = {"replay": 200, "401": 401, "403": 403, "404": 404, "409": 409, "413": 413}
        failures: list[str] = []
        for name, send in cases.items():
            for i in range(REPEAT):
                r = send()
                assert r.status_code == expect[name], (name, r.status_code, r.text[:300])
                if r.status_code >= 400:
                    assert r.json()["error"]["code"]  # the standard body, readable
                try:
                    follow = s.get(f"{api}/experiments/{eid}", headers=admin, timeout=30)
                    assert follow.status_code == 200 and follow.json()["id"] == eid
                except requests.ConnectionError as e:
                    failures.append(f"{name} #{i}: {e}")
        assert failures == []
        r = cases["replay"]()
        assert r.headers.get("Idempotent-Replayed") == "true" and r.json() == first.json()
        r = cases["413"]()
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
