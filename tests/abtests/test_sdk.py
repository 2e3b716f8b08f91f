"""The SDK against a live server: create/get, local assignment equal to REST and to the documented
algorithm, buffered outcomes (idempotent batches), typed results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tether
from tests.abtests.test_api import _documented


@pytest.fixture
def sdk(live_server: str, writer: Any, model: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TETHER_URL", live_server)
    monkeypatch.setenv("TETHER_TOKEN", writer[1])
    with tether.Client() as c:
        yield c


def test_sdk_flow(sdk: Any, client: Any, auth: dict[str, str]) -> None:
    created = sdk.ab_tests.create(model="churn", name="ctr", treatments=["challenger"], traffic=[0.8, 0.2],
                                  metric="revenue", metric_type="mean")  # fmt: skip
    test = sdk.ab_tests.get(created.id)
    assert (test.status, [a.version for a in test.arms]) == ("running", [1, 2])
    units = [f"user-{i}" for i in range(300)]
    for u in units:
        rest = client.get(f"/api/v1/ab-tests/{test.id}/assign", headers=auth, query_string={"unit": u}).json
        local = test.assign(u)
        assert (local.name, local.version) == (rest["arm"], rest["version"])
        assert test.arms.index(local) == _documented(test.id, u, test.traffic)
    rng = np.random.default_rng(7)
    values = {u: float(rng.exponential(10.0)) for u in units}
    for u in units:  # two outcomes per unit: the server sums them into one value per unit
        test.log_outcome(u, values[u] / 2)
        test.log_outcome(u, values[u] / 2)
    test.flush()
    res = test.results()
    assert isinstance(res, tether.resources.ABTestResults) and res.state == "running"
    for i, arm in enumerate(res.arms):
        mine = [values[u] for u in units if test.arms.index(test.assigned_arm(u)) == i]
        assert arm.n == len(mine) and arm.mean == pytest.approx(np.mean(mine))
    assert res.arms[1].effect == pytest.approx(res.arms[1].mean - res.arms[0].mean)
    assert res.arms[1].explain["interval"] and res.srm.explain
    assert [t.id for t in sdk.ab_tests.list(model="churn")] == [test.id]
    test.stop()
    assert test.status == "stopped" and test.assign(units[0]).name == "control"
    test.close()
