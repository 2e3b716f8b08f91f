"""The compact drift cells the monitor page reads (``/drift?view=cells``, stored by the evaluator
in ``monitor_window_results.cells``) hold the same status, psi and n as the full drift of every
window and column: evaluated windows, open windows recomputed on read, and windows evaluated
before the column existed (cells derived from the stored drift). On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sqlalchemy import null, update

from tests.monitoring.helpers import HOUR, T0, create_monitor, production_model, production_rows
from tests.monitoring.test_api import _evaluate
from tether_server.models.monitoring import MonitorWindowResult
from tether_server.runtime import Runtime
from tether_server.services.monitoring.compute import CELL_KEYS


def _drift(client: Any, auth: dict[str, str], mid: int, view: str = "") -> dict[str, Any]:
    r = client.get(f"/api/v1/monitors/{mid}/drift?from={T0}{view}", headers=auth)
    assert r.status_code == 200, r.json
    return r.json


def _assert_cells_match(full: dict[str, Any], cells: dict[str, Any]) -> int:
    assert [w["window_start"] for w in full["windows"]] == [w["window_start"] for w in cells["windows"]]
    checked = 0
    for fw, cw in zip(full["windows"], cells["windows"], strict=True):
        for key in ("partial", "n", "sources", "model_version", "reference_id", "status"):
            assert fw[key] == cw[key], key
        assert cw["dataset"] == {
            "status": fw["dataset"]["status"],
            "drifted_share": fw["dataset"]["drifted_share"],
        }
        assert set(cw["columns"]) == set(fw["columns"])
        for name, cell in cw["columns"].items():
            assert cell == {k: fw["columns"][name][k] for k in CELL_KEYS}  # equal values, not close
            checked += 1
    for key in (
        "monitor_id",
        "window_seconds",
        "truncated",
        "reference_changes",
        "importances",
        "thresholds",
    ):
        assert full[key] == cells[key]
    return checked


def test_cells_equal_the_full_drift(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    rng = np.random.default_rng(11)
    for k, shift in enumerate([0.0, 0.8, 0.0, 2.0]):
        rows = production_rows(rng, 800 + 300 * k, shift=shift, ts=T0 + k * HOUR + 1)
        assert (
            client.post(f"/api/v1/monitors/{mid}/rows", headers=auth, json={"rows": rows}).status_code == 200
        )
    now = int(time.time() * 1000)
    live = client.post(f"/api/v1/monitors/{mid}/rows", headers=auth, json={"rows": [{"age": 1.0}]}).json
    assert live["windows"][0]["window_start"] > T0
    # before any evaluation every window is recomputed on read, cells included
    checked = _assert_cells_match(_drift(client, auth, mid), _drift(client, auth, mid, "&view=cells"))
    _evaluate(app, now)
    full, cells = _drift(client, auth, mid), _drift(client, auth, mid, "&view=cells")
    assert [w["partial"] for w in cells["windows"]] == [False] * 4 + [True]
    assert {w["columns"]["age"]["status"] for w in cells["windows"][:4]} >= {"ok", "alert"}
    checked += _assert_cells_match(full, cells)
    assert checked >= 2 * 5 * 3
    # windows evaluated before the cells column: the read derives them from the stored drift
    with Runtime.of(app).database.transaction() as s:
        s.execute(
            update(MonitorWindowResult).where(MonitorWindowResult.monitor_id == mid).values(cells=null())
        )
    _assert_cells_match(full, _drift(client, auth, mid, "&view=cells"))
    bad = client.get(f"/api/v1/monitors/{mid}/drift?view=heat", headers=auth)
    assert bad.status_code == 400 and bad.json["error"]["code"] == "INVALID_ARGUMENT"


def test_the_histogram_gives_a_cells_other_statistics(app: Any, client: Any, auth: dict[str, str]) -> None:
    production_model(app, client, auth)
    mid = create_monitor(client, auth)["id"]
    rows = production_rows(np.random.default_rng(12), 1000, shift=0.5, ts=T0 + 1)
    client.post(f"/api/v1/monitors/{mid}/rows", headers=auth, json={"rows": rows})
    _evaluate(app, T0 + 3 * HOUR)
    full = _drift(client, auth, mid)["windows"][0]["columns"]["age"]
    h = client.get(f"/api/v1/monitors/{mid}/windows/{T0}/histogram?column=age", headers=auth).json
    assert h["stats"] == full and {"js", "ks", "wasserstein"} <= set(h["stats"])
