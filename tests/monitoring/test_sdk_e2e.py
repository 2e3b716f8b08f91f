"""The SDK against the live app (a real HTTP server, SQLite and PostgreSQL): ``tether.monitor(...)
.log(frame)`` bins on the server's reference, posts whole windows, and the server's drift, histogram,
evaluator, alerts and a monitoring-scoped token all see the same data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import tether
from tests.conftest import bearer

from .helpers import HOUR, T0, create_monitor, production_model, production_rows
from .test_api import _evaluate


def _frame(seed: int, n: int, shift: float, ts: int) -> pd.DataFrame:
    return pd.DataFrame(production_rows(np.random.default_rng(seed), n, shift=shift, ts=ts))


def test_sdk_monitor_log_frame_end_to_end(
    app: Any, client: Any, auth: dict[str, str], writer: tuple[int, str], live_server: str
) -> None:
    production_model(app, client, auth)
    m = create_monitor(client, auth)
    r = client.post("/api/v1/tokens", headers=auth, json={"name": "deploy", "scopes": ["monitoring"]})
    assert r.status_code == 201, r.json
    deploy = r.json["token"]
    with tether.Client(live_server, token=deploy, max_retries=0) as sdk:
        with pytest.raises(tether.TetherError):  # a monitoring token cannot list runs
            sdk.request("POST", "/runs/search", json={"experiment_ids": []})
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        mon = tether.monitor("churn", stage="production", client=sdk, source="replica-1")
        assert mon.info.id == m["id"]
        mon.log(_frame(1, 2000, 0.0, T0))  # window 0: no drift
        mon.log(_frame(2, 2000, 1.0, T0 + HOUR))  # window 1: age shifted by one sd
        mon.flush(timeout=60)
        mon.close(timeout=60)
    d = client.get(f"/api/v1/monitors/{m['id']}/drift?from={T0}&to={T0 + 2 * HOUR}", headers=auth).json
    by_start = {w["window_start"]: w for w in d["windows"]}
    assert by_start[T0]["n"] == 2000 and by_start[T0 + HOUR]["n"] == 2000
    assert by_start[T0]["columns"]["age"]["status"] == "ok"
    assert by_start[T0 + HOUR]["columns"]["age"]["psi"] > 0.2
    # the same summary as the server would build from the raw rows (the SDK binned on the same edges)
    h = client.get(f"/api/v1/monitors/{m['id']}/windows/{T0 + HOUR}/histogram?column=age", headers=auth).json
    assert sum(h["window"]) == pytest.approx(1.0) and len(h["buckets"]) == len(h["reference"])
    _evaluate(app, T0 + 3 * HOUR)
    alerts = client.get(f"/api/v1/alerts?monitor={m['id']}&status=open", headers=auth).json["items"]
    drift = [a for a in alerts if a["rule"] == "drift" and a["column"] == "age"]
    assert len(drift) == 1 and drift[0]["first_window"] == T0 + HOUR and drift[0]["severity"] == "alert"
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        listed = list(sdk.alerts.list(monitor=m["id"], status="open"))
        assert any(a.id == drift[0]["id"] and a.monitor_id == m["id"] for a in listed)
    assert client.get(f"/api/v1/alerts/{drift[0]['id']}", headers=bearer(deploy)).status_code == 403
