from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"monitor_eval_seconds": 0, "webhook_allowlist": "127.0.0.1/32", "webhook_worker": False}
