from __future__ import annotations

from typing import Any

import pytest

from tests.abtests.helpers import model_with_challenger
from tests.conftest import bearer


@pytest.fixture
def reviewer(users: Any) -> tuple[int, dict[str, str]]:
    uid, token = users.create("rita", "reviewer")
    return uid, bearer(token)


@pytest.fixture
def model(client: Any, auth: dict[str, str], reviewer: tuple[int, dict[str, str]]) -> dict[str, Any]:
    return model_with_challenger(client, auth, reviewer)
