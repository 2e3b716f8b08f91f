"""The SDK against a live server: register, request, approve, get_production, verified download."""

from __future__ import annotations

import pytest

import tether
from tests.registry.helpers import FILES, grant, reviewer, training_run, version_keys
from tether_server.runtime import Runtime


def test_sdk_registry_flow(app, client, auth, users, live_server, writer, tmp_path, backend):
    run_id = training_run(client, auth)
    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        v = sdk.models.register(run_id, "model", "churn", metadata={"framework": "torch"})
        assert isinstance(v, tether.ModelVersion)
        assert v.version == 1 and v.metadata["framework"] == "torch" and v.run_id == run_id
        assert sdk.models.register(run_id, "model", "churn").version == 2
        req = sdk.models.request_transition("churn", 1, "Production", comment="auc 0.91")
        assert isinstance(req, tether.TransitionRequest)
        assert (req.status, req.model, req.version, req.to_stage) == ("pending", "churn", 1, "Production")
        model = sdk.models.get("churn")
        assert (model.name, model.latest_version) == ("churn", 2)
        model_id = model.id
        with pytest.raises(tether.PermissionDeniedError):
            sdk.models.approve(req.id)

    rid, _ = reviewer(users, "rita")
    grant(client, auth, rid, model_id)
    from tether_server.services.identity import users as users_svc

    with Runtime.of(app).database.session() as s:
        _t, rtoken = users_svc.create_token(s, None, users_svc.get_user(s, rid), "sdk")
        s.commit()
    with tether.Client(live_server, token=rtoken, max_retries=0) as rsdk:
        assert [r.id for r in rsdk.models.list_requests()] == [req.id]
        done = rsdk.models.approve(req.id, comment="ok")
        assert done.status == "approved" and [a.comment for a in done.approvals] == ["ok"]
        assert rsdk.models.get_request(req.id).status == "approved"
        assert [r.id for r in rsdk.models.list_requests(status="approved")] == [req.id]

    with tether.Client(live_server, token=writer[1], max_retries=0) as sdk:
        prod = sdk.models.get_production("churn")
        assert isinstance(prod, tether.Deployment)
        assert prod.version == 1 and prod.run_id == run_id and prod.stage == "Production"
        assert {f.path for f in prod.files} == {
            k.removeprefix("model/") for k in FILES if k.startswith("model/")
        }
        assert prod["version"] == 1  # the old dict spelling still works (deprecated)
        out = sdk.models.download("churn", stage="production", dst=tmp_path / "m")
        expected = {k.removeprefix("model/"): v for k, v in FILES.items() if k.startswith("model/")}
        assert {p: (out / p).read_bytes() for p in expected} == expected
        assert not list(out.rglob("*.part"))
        assert sdk.models.set_alias("churn", "challenger", 2).version == 2
        assert sdk.models.get_alias("churn", "challenger").version == 2
        assert [m.name for m in sdk.models.list()] == ["churn"]
        assert [v.version for v in sdk.models.list_versions("churn")] == [2, 1]  # newest first
        assert [v.version for v in sdk.models.list_versions("churn", stage="production")] == [1]

        # Corrupt the stored object: the download refuses it.
        store = Runtime.of(app).store
        key = version_keys(app, "churn", 2)["config.json"]
        import io

        store.put_stream(key, io.BytesIO(b'{"layers": 4}'))
        with pytest.raises(tether.ChecksumError):
            sdk.models.download("churn", alias="challenger", dst=tmp_path / "bad")
        assert not (tmp_path / "bad" / "config.json").exists()
