"""The unit-of-work rules hold in the source: services never commit, views get sessions only through
``context`` (its four named modes), and no worker is started from a request hook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "server" / "tether_server"


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (PKG / f).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("services"), ids=lambda p: str(p.relative_to(PKG)))
def test_services_never_commit(path: Path) -> None:
    assert not re.search(r"\.commit\(|\.rollback\(", path.read_text()), (
        "services take a session; callers commit"
    )


@pytest.mark.parametrize("path", _sources("api", "ui"), ids=lambda p: str(p.relative_to(PKG)))
def test_views_get_sessions_only_from_context(path: Path) -> None:
    src = path.read_text()
    assert not re.search(
        r"\.commit\(|\.rollback\(|read_session|write_session|\.transaction\(|\.session\(", src
    )
    assert "before_app_request" not in src  # workers start in create_app, not on a first request
    assert "rollback_only" not in src
