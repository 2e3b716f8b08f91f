"""The cache of built search statements (``search._statement``): reuse, rebuild, bound."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tether_server.access import Principal
from tether_server.services.tracking import search

FILTER = "metrics.auc > 0.9 and params.depth = '6'"


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    search._statements.clear()
    yield
    search._statements.clear()


def _sql(q: Any, dialect: Any) -> str:
    return str(q.compile(dialect=dialect))


def test_same_shape_reuses_the_statement_and_compiles_as_a_fresh_one() -> None:
    built: list[int] = []

    def build(head_edge: Any) -> Any:
        built.append(1)
        return search._page_statement(
            Principal(id=3, name="u", role="viewer"),
            [1],
            FILTER,
            ["metrics.auc DESC"],
            "active",
            0,
            101,
            head_edge,
        )

    first = search._statement(("shape",), build, lambda table: False)
    again = search._statement(("shape",), build, lambda table: False)
    assert again is first and len(built) == 1
    fresh = build(lambda table: False)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert _sql(again, dialect) == _sql(fresh, dialect)


def test_rebuilt_when_the_head_edge_answer_changes() -> None:
    answers = {"latest_metrics": False}

    def build(head_edge: Any) -> Any:
        return search._page_statement(
            Principal(id=1, name="a", role="admin"),
            None,
            FILTER,
            ["metrics.auc DESC"],
            "active",
            0,
            11,
            head_edge,
        )

    one = search._statement("s", build, lambda table: answers[table])
    answers["latest_metrics"] = True
    two = search._statement("s", build, lambda table: answers[table])
    assert two is not one and "search_head" in _sql(two, postgresql.dialect())
    assert "search_head" not in _sql(one, postgresql.dialect())
    assert search._statement("s", build, lambda table: answers[table]) is two


def test_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "STATEMENT_CACHE_SIZE", 4)
    for i in range(10):
        search._statement(i, lambda head_edge: select(1), lambda table: False)
    assert 1 <= len(search._statements) <= 4


def test_the_key_holds_what_the_permission_filter_reads() -> None:
    """Two callers differing only in role or default level must not share a statement: the shape
    built by ``search_runs`` names them."""
    import inspect

    src = inspect.getsource(search.search_runs)
    assert "(actor.id, actor.role, actor.default_level)" in src
    viewer = search._page_statement(
        Principal(id=3, name="u", role="viewer"), None, None, None, "active", 0, 11, lambda t: False
    )
    admin = search._page_statement(
        Principal(id=3, name="u", role="admin"), None, None, None, "active", 0, 11, lambda t: False
    )
    assert _sql(viewer, sqlite.dialect()) != _sql(admin, sqlite.dialect())
