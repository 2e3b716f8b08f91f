"""``tether webhooks deliver`` drains the outbox once."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import bearer
from tests.registry.helpers import create_model, register, training_run
from tests.registry.receiver import Receiver
from tether_server.cli import main


@pytest.fixture
def settings_overrides():
    return {"webhook_allowlist": "127.0.0.1/32"}


def test_webhooks_deliver_one_shot(app, client, auth, admin_token, settings, monkeypatch, backend):
    with Receiver() as rx:
        r = client.post(
            "/api/v1/webhooks",
            headers=bearer(admin_token),
            json={"url": rx.url, "events": ["model_version.created"]},
        )
        assert r.status_code == 201
        run_id = training_run(client, auth)
        create_model(client, auth)
        register(client, auth, "churn", run_id)
        monkeypatch.setenv("TETHER_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("TETHER_WEBHOOK_ALLOWLIST", "127.0.0.1/32")
        monkeypatch.setenv("TETHER_DATA_DIR", settings.data_dir)
        out = CliRunner().invoke(main, ["webhooks", "deliver"])
        assert out.exit_code == 0, out.output
        assert "1 delivery attempt(s) made" in out.output
        assert len(rx.received) == 1
        assert CliRunner().invoke(main, ["webhooks", "deliver"]).output.startswith("0 delivery")
