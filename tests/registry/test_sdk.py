"""The SDK against a live server: register, request, approve, get_production, verified download."""

from __future__ import annotations

import pytest

import tether
from tests.registry.helpers import FILES, grant, reviewer, training_run, version_keys
from tether._models import ChecksumError
from tether_server.runtime import Runtime


def test_sdk_registry_flow(app, client, auth, users, live_server, writer, tmp_path, backend):
    run_id = training_run(client, auth)
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        v = sdk.models.register(run_id, "model", "churn", metadata={"framework": "torch"})
        assert v["version"] == 1 and v["metadata"]["framework"] == "torch"
        assert sdk.models.register(run_id, "model", "churn")["version"] == 2
        req = sdk.models.request_transition("churn", 1, "Production", comment="auc 0.91")
        assert req["status"] == "pending"
        model_id = sdk.models.get("churn")["id"]
        with pytest.raises(tether.PermissionDeniedError):
            sdk.models.approve(req["id"])

    rid, _ = reviewer(users, "rita")
    grant(client, auth, rid, model_id)
    from tether_server.services.identity import users as users_svc

    with Runtime.of(app).database.session() as s:
        _t, rtoken = users_svc.create_token(s, None, users_svc.get_user(s, rid), "sdk")
        s.commit()
    with tether.Client(live_server, token=rtoken, max_retries=0) as rsdk:
        assert [r["id"] for r in rsdk.models.list_requests()] == [req["id"]]
        assert rsdk.models.approve(req["id"], comment="ok")["status"] == "approved"

    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        prod = sdk.models.get_production("churn")
        assert prod["version"] == 1 and prod["run_id"] == run_id
        out = sdk.models.download("churn", stage="production", dst=tmp_path / "m")
        expected = {k.removeprefix("model/"): v for k, v in FILES.items() if k.startswith("model/")}
        assert {p: (out / p).read_bytes() for p in expected} == expected
        assert not list(out.rglob("*.part"))
        sdk.models.set_alias("churn", "challenger", 2)
        assert sdk.models.get_alias("churn", "challenger")["version"] == 2
        assert [m["name"] for m in sdk.models.list()] == ["churn"]

        # Corrupt the stored object: the download refuses it.
        store = Runtime.of(app).store
        key = version_keys(app, "churn", 2)["config.json"]
        import io

        store.put_stream(key, io.BytesIO(b'{"layers": 4}'))
        with pytest.raises(ChecksumError):
            sdk.models.download("churn", alias="challenger", dst=tmp_path / "bad")
        assert not (tmp_path / "bad" / "config.json").exists()
