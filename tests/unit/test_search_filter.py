"""The run search filter language: parsing, errors, and compiled SQL against an in-memory SQLite DB."""

from __future__ import annotations

import math
import operator
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, insert, select, text
from sqlalchemy.engine import make_url

from tether_server.errors import InvalidArgument
from tether_server.models import Base, Experiment, LatestMetric, Param, Run, RunTag
from tether_server.services.tracking.search import apply_search, limited_search
from tether_server.services.tracking.search_filter import compile_filter, compile_order_by, like_to_glob
from tether_server.services.tracking.search_parser import (
    BoolOp,
    Comparison,
    Field,
    Node,
    Not,
    Number,
    parse_filter,
)

M, P, T, A = (
    (lambda k: Field("metric", k)),
    (lambda k: Field("param", k)),
    (lambda k: Field("tag", k)),
    (lambda k: Field("attribute", k)),
)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc > 0.5", Comparison(M("auc"), ">", Number(0.5, "0.5"))),
        ("metrics.val.acc>=-1", Comparison(M("val.acc"), ">=", Number(-1, "-1"))),
        ("metrics.train/loss < 1e-3", Comparison(M("train/loss"), "<", Number(0.001, "1e-3"))),
        ("metrics.`train loss` <> 2", Comparison(M("train loss"), "!=", Number(2, "2"))),
        ('metric."a`b" = .5', Comparison(M("a`b"), "=", Number(0.5, ".5"))),
        ("params.`we\\`ird` = 'x'", Comparison(P("we`ird"), "=", "x")),
        ("params.depth = 6", Comparison(P("depth"), "=", "6")),
        ("param.lr = 0.10", Comparison(P("lr"), "=", "0.10")),
        ('params."my key" = "it\'s"', Comparison(P("my key"), "=", "it's")),
        ("tags.note = 'it''s \\'ok\\''", Comparison(T("note"), "=", "it's 'ok'")),
        ("tag.team ilike 'V%'", Comparison(T("team"), "ILIKE", "V%")),
        ("tags.team Not Like 'v%'", Comparison(T("team"), "NOT LIKE", "v%")),
        ("params.opt IN ('adam', 1)", Comparison(P("opt"), "IN", ("adam", "1"))),
        ("metrics.auc not in (1, 2.5)", Comparison(M("auc"), "NOT IN", (Number(1, "1"), Number(2.5, "2.5")))),
        ("tags.x is null", Comparison(T("x"), "IS NULL", None)),
        ("end_time IS NOT NULL", Comparison(A("end_time"), "IS NOT NULL", None)),
        ("status = 'finished'", Comparison(A("status"), "=", "FINISHED")),
        ("attributes.run_name = 'a'", Comparison(A("name"), "=", "a")),
        ("attr.ID = 'abc'", Comparison(A("run_id"), "=", "abc")),
        ("experiment_id = 3", Comparison(A("experiment_id"), "=", Number(3, "3"))),
        ("datasets.Name = 'iris'", Comparison(Field("dataset", "name"), "=", "iris")),
        ("dataset.digest LIKE 'ab%'", Comparison(Field("dataset", "digest"), "LIKE", "ab%")),
        (
            "datasets.context IN ('train', 'Eval', 'x')",
            Comparison(Field("dataset", "context"), "IN", ("training", "evaluation", "x")),
        ),
        ("datasets.context LIKE 'train%'", Comparison(Field("dataset", "context"), "LIKE", "train%")),
        (
            "metrics.a = 1 OR metrics.b = 2 AND metrics.c = 3",
            BoolOp(
                "OR",
                (
                    Comparison(M("a"), "=", Number(1, "1")),
                    BoolOp(
                        "AND",
                        (Comparison(M("b"), "=", Number(2, "2")), Comparison(M("c"), "=", Number(3, "3"))),
                    ),
                ),
            ),
        ),
        (
            "(metrics.a = 1 OR metrics.b = 2) and not metrics.c = 3",
            BoolOp(
                "AND",
                (
                    BoolOp(
                        "OR",
                        (Comparison(M("a"), "=", Number(1, "1")), Comparison(M("b"), "=", Number(2, "2"))),
                    ),
                    Not(Comparison(M("c"), "=", Number(3, "3"))),
                ),
            ),
        ),
    ],
)
def test_parse_valid(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


_TOO_MANY = " AND ".join(["metrics.a = 1"] * 51)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.auc 0.5", 12, "Expected a comparison operator after 'metrics.auc'"),
        ("metrics.auc > 'x'", 14, "compares numerically"),
        ("metrics.auc LIKE 'x%'", 12, "strings only"),
        ("start_time > 'yesterday'", 13, "compares numerically"),
        ("foo.bar = 1", 0, "Unknown identifier prefix 'foo'"),
        ("bogus = 1", 0, "Unknown attribute 'bogus'"),
        ("datasets.size = 'x'", 0, "Unknown dataset field"),
        ("datasets.name > 'x'", 14, "does not apply"),
        ("datasets.digest IS NULL", 16, "does not apply"),
        ("metrics. = 1", 0, "Missing key"),
        ("AND metrics.a = 1", 0, "Expected an identifier"),
        ("metrics.auc > 1 AND", 19, "found the end of the filter"),
        ("metrics.auc > 1 metrics.b = 2", 16, "Expected AND, OR"),
        ("(metrics.auc > 1", 16, "Expected ')'"),
        ("metrics.auc > 1)", 15, "Expected AND, OR"),
        ("metrics.auc >", 13, "Expected a string or a number"),
        ("metrics.auc > metrics.b", 14, "Expected a string or a number"),
        ("params.a IN 'x'", 12, "Expected '('"),
        ("params.a IN ()", 13, "Expected a string or a number"),
        ("params.a IN ('x' 'y')", 17, "Expected ',' or ')'"),
        ("params.a IS 1", 12, "Expected NULL or NOT NULL"),
        ("params.a IS NOT 'x'", 16, "Expected NULL or NOT NULL"),
        ("params.a NOT = 'x'", 13, "Expected IN, LIKE or ILIKE"),
        ("status = 'DONE'", 9, "Invalid status"),
        ("params.a = 'abc", 11, "Unterminated"),
        ("params.`abc = 1", 7, "Unterminated"),
        ("params.a = `x`", 11, "Unexpected character '`'"),
        ("params.a LIKE 'x\\\\'", 14, "unescaped backslash"),
        ("metrics.a = 1 ~", 14, "Unexpected character '~'"),
        ("params.a = 'x\x00'", 13, "NUL"),
        ("params.a = 1\x00", 12, "NUL"),
        ("metrics.a = 1.5e", 15, "Expected AND, OR"),
        ("", 0, "Expected an identifier"),
        ("   ", 3, "Expected an identifier"),
        ("(" * 21 + "metrics.a = 1" + ")" * 21, 20, "deeper than 20"),
        ("NOT " * 21 + "metrics.a = 1", 80, "deeper than 20"),
        (_TOO_MANY, 50 * len("metrics.a = 1 AND "), "more than 50 comparisons"),
        ("metrics.a = 1 OR " * 300 + "metrics.a = 1", 4000, "longer than 4000"),
    ],
)
def test_parse_invalid(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse_filter(text)
    assert exc.value.details["position"] == position
    assert fragment in exc.value.message
    assert "longer than" in fragment or f"at position {position}" in exc.value.message


def test_limits_allow_the_maximum() -> None:
    parse_filter(" AND ".join(["metrics.a = 1"] * 50))
    parse_filter("(" * 20 + "metrics.a = 1" + ")" * 20)


def test_blank_filter_compiles_to_none() -> None:
    assert compile_filter(None) is None
    assert compile_filter("  \n") is None


def test_like_to_glob() -> None:
    assert like_to_glob("a%b_c") == "a*b?c"
    assert like_to_glob("x*?[") == "x[*][?][[]"
    assert like_to_glob("50\\%\\_\\\\\\*") == "50%_\\[*]"


# ---------------------------------------------------------------- compiled SQL

PG_URL = os.environ.get("TETHER_TEST_PG_URL", "")


@contextmanager
def _engine(backend: str = "sqlite") -> Iterator[Engine]:
    """An empty schema: in-memory SQLite, or a throwaway database on TETHER_TEST_PG_URL."""
    if backend == "sqlite":
        engine = create_engine("sqlite://")
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("TETHER_TEST_PG_URL is not set on CI: PostgreSQL did not start")
        pytest.skip("PostgreSQL not available (set TETHER_TEST_PG_URL)")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"tether_sf_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(PG_URL).set(database=name))
    try:
        Base.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(engine: Engine) -> None:
    nan = {"is_nan": True, "value": 0.0}
    metrics: dict[str, dict[str, Any]] = {
        "r1": {"auc": 0.9, "train/loss": 0.1, "val.acc": 0.8},
        "r2": {"auc": 0.7, "train/loss": 0.3},
        "r3": {"auc": nan, "train/loss": 0.2},
        "r5": {"auc": 0.5},
    }
    params = {
        "r1": {"lr": "0.1", "depth": "6", "my key": "x"},
        "r2": {"lr": "0.01", "depth": "8"},
        "r3": {"depth": "10"},
        "r4": {"lr": "0.1"},
        "r5": {"opt": "adam"},
    }
    tags = {"r1": {"team": "Vision", "note": "50% off"}, "r2": {"team": "nlp"}, "r3": {"team": "vision"}}
    with engine.begin() as conn:
        conn.execute(insert(Experiment), [{"id": 1, "name": "e1"}, {"id": 2, "name": "e2"}])
        conn.execute(
            insert(Run),
            [
                {"end_time": None, "parent_run_id": None, **row}
                for row in [
                    {
                        "id": "r1",
                        "experiment_id": 1,
                        "name": "alpha-base",
                        "status": "FINISHED",
                        "start_time": 1000,
                        "end_time": 2000,
                    },
                    {
                        "id": "r2",
                        "experiment_id": 1,
                        "name": "ALPHA",
                        "status": "RUNNING",
                        "start_time": 2000,
                    },
                    {
                        "id": "r3",
                        "experiment_id": 1,
                        "name": "beta",
                        "status": "FAILED",
                        "start_time": 3000,
                        "end_time": 3500,
                        "parent_run_id": "r1",
                    },
                    {
                        "id": "r4",
                        "experiment_id": 1,
                        "name": "gamma",
                        "status": "KILLED",
                        "start_time": 3000,
                        "end_time": 4000,
                    },
                    {
                        "id": "r5",
                        "experiment_id": 2,
                        "name": "delta_1",
                        "status": "FINISHED",
                        "start_time": 500,
                        "end_time": 600,
                    },
                ]
            ],
        )
        conn.execute(
            insert(LatestMetric),
            [
                {
                    "run_id": r,
                    "key": k,
                    "step": 0,
                    "timestamp": 0,
                    **(v if isinstance(v, dict) else {"value": v, "is_nan": False}),
                }
                for r, ms in metrics.items()
                for k, v in ms.items()
            ],
        )
        conn.execute(
            insert(Param),
            [{"run_id": r, "key": k, "value": v} for r, ps in params.items() for k, v in ps.items()],
        )
        conn.execute(
            insert(RunTag),
            [{"run_id": r, "key": k, "value": v} for r, ts in tags.items() for k, v in ts.items()],
        )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with _engine(request.param) as engine:
        _seed(engine)
        yield engine


def _ids(engine: Engine, where: str | None = None, order_by: list[str] | None = None) -> list[str]:
    q = select(Run.id).order_by(*compile_order_by(order_by))
    clause = compile_filter(where)
    if clause is not None:
        q = q.where(clause)
    with engine.connect() as conn:
        return list(conn.scalars(q))


_SELECTS = [
    ("metrics.auc > 0.6", "r1 r2"),
    ("metrics.auc >= 0.5", "r1 r2 r5"),  # r3's NaN never compares
    ("metrics.auc > -1e9", "r1 r2 r5"),
    ("metrics.auc != 0.9", "r2 r5"),  # only runs that have a (non-NaN) auc
    ("NOT metrics.auc = 0.9", "r2 r3 r4 r5"),
    ("metrics.auc IS NULL", "r4"),
    ("metrics.auc IS NOT NULL", "r1 r2 r3 r5"),
    ("metrics.`train/loss` < 0.25", "r1 r3"),
    ("metrics.train/loss < 0.25", "r1 r3"),
    ('metrics."train/loss" <= 0.2', "r1 r3"),
    ("metrics.val.acc = 0.8", "r1"),
    ("metrics.auc IN (0.5, 0.7)", "r2 r5"),
    ("metrics.auc NOT IN (0.5, 0.7)", "r1"),
    ("params.depth = '6'", "r1"),
    ("params.depth = 6", "r1"),
    ("params.depth > '6'", "r2"),  # string comparison: '10' < '6' < '8'
    ("params.lr = 0.1", "r1 r4"),
    ("params.lr <> '0.1'", "r2"),
    ("params.lr IS NULL", "r3 r5"),
    ("params.lr IS NOT NULL", "r1 r2 r4"),
    ("params.`my key` = 'x'", "r1"),
    ("params.lr IN ('0.1', '0.01')", "r1 r2 r4"),
    ("params.depth NOT IN ('6', '8')", "r3"),
    ("tags.team = 'vision'", "r3"),
    ("tags.team LIKE 'v%'", "r3"),  # LIKE is case-sensitive, also on SQLite
    ("tags.team ILIKE 'v%'", "r1 r3"),
    ("tags.team NOT ILIKE 'V%'", "r2"),
    ("tags.note LIKE '50\\\\% off'", "r1"),
    ("tags.note LIKE '50\\\\%'", ""),
    ("name LIKE 'alpha%'", "r1"),
    ("name ILIKE 'ALPHA%'", "r1 r2"),
    ("name LIKE '_eta'", "r3"),
    ("name LIKE 'delta\\\\_1'", "r5"),
    ("run_name = 'beta'", "r3"),
    ("status = 'finished'", "r1 r5"),
    ("attributes.status IN ('RUNNING', 'killed')", "r2 r4"),
    ("status != 'FINISHED'", "r2 r3 r4"),
    ("start_time >= 2000 AND start_time < 3000", "r2"),
    ("end_time IS NULL", "r2"),
    ("NOT end_time > 3000", "r1 r2 r5"),  # NULL end_time counts as "not > 3000"
    ("end_time != 2000", "r3 r4 r5"),
    ("parent_run_id = 'r1'", "r3"),
    ("parent_run_id IS NULL", "r1 r2 r4 r5"),
    ("run_id = 'r2'", "r2"),
    ("id IN ('r1', 'r5')", "r1 r5"),
    ("experiment_id = 2", "r5"),
    ("experiment_id < 1.5", "r1 r2 r3 r4"),  # not rounded to the integer column
    ("experiment_id < 99999999999", "r1 r2 r3 r4 r5"),  # beyond INTEGER range
    ("start_time > 1e30 OR end_time IN (600, 2000.0)", "r1 r5"),
    ("metrics.auc > 0.8 OR metrics.auc < 0.6 AND params.opt = 'adam'", "r1 r5"),
    ("(metrics.auc > 0.8 OR metrics.auc < 0.6) AND params.opt = 'adam'", "r5"),
    ("params.lr = '0.1' OR tags.team = 'nlp' AND metrics.auc > 0.8", "r1 r4"),
    ("(params.lr = '0.1' OR tags.team = 'nlp') AND metrics.auc > 0.8", "r1"),
    ("metrics.auc > 0.6 and not params.lr is null", "r1 r2"),
    ("metric.auc > 0.8 AND param.depth = '6' AND tag.team = 'Vision' AND attr.name = 'alpha-base'", "r1"),
]


@pytest.mark.parametrize(("text", "expected"), _SELECTS)
def test_filter_selects(engine: Engine, text: str, expected: str) -> None:
    assert sorted(_ids(engine, text)) == expected.split()


_ORDERS = [
    (None, "r3 r4 r2 r1 r5"),  # start_time DESC, then id
    ([], "r3 r4 r2 r1 r5"),
    (["metrics.auc DESC"], "r1 r2 r5 r3 r4"),  # NaN and missing last
    (["metrics.auc ASC"], "r5 r2 r1 r3 r4"),
    (["metric.auc"], "r5 r2 r1 r3 r4"),
    (["params.lr"], "r2 r4 r1 r3 r5"),
    (["params.lr DESC"], "r4 r1 r2 r3 r5"),
    (["metrics.`train/loss` ASC"], "r1 r3 r2 r4 r5"),
    (["metrics.train/loss desc"], "r2 r3 r1 r4 r5"),
    (["start_time DESC"], "r3 r4 r2 r1 r5"),
    (["start_time"], "r5 r1 r2 r3 r4"),
    (["end_time DESC"], "r4 r3 r1 r5 r2"),
    (["end_time"], "r5 r1 r3 r4 r2"),
    (["run_id DESC"], "r5 r4 r3 r2 r1"),
    (["name DESC"], "r4 r5 r3 r1 r2"),
    (["params.depth DESC", "metrics.auc DESC"], "r2 r1 r3 r5 r4"),  # strings: '8' > '6' > '10'
    (["tags.note DESC"], "r1 r3 r4 r2 r5"),
]


@pytest.mark.parametrize(("order_by", "expected"), _ORDERS)
def test_order_by(engine: Engine, order_by: list[str] | None, expected: str) -> None:
    assert _ids(engine, order_by=order_by) == expected.split()


def test_filter_and_order_together(engine: Engine) -> None:
    assert _ids(engine, "params.lr IS NOT NULL", ["metrics.auc DESC"]) == ["r1", "r2", "r4"]


# ---------------------------------------------------------------- the search query (key joins)


def _planned_ids(engine: Engine, where: str | None = None, order_by: list[str] | None = None) -> list[str]:
    """Run ids through ``search.apply_search``: required key terms and key sorts become joins."""
    with engine.connect() as conn:
        return list(conn.scalars(apply_search(select(Run.id), where, order_by)))


@pytest.mark.parametrize(("text", "expected"), _SELECTS)
def test_planned_search_selects_the_same_runs(engine: Engine, text: str, expected: str) -> None:
    assert sorted(_planned_ids(engine, text)) == expected.split()
    assert _planned_ids(engine, text) == _ids(engine, text)  # same default order too


@pytest.mark.parametrize(("order_by", "expected"), _ORDERS)
def test_planned_search_orders_the_same(engine: Engine, order_by: list[str] | None, expected: str) -> None:
    assert _planned_ids(engine, order_by=order_by) == expected.split()


_PAGED = [
    ("metrics.auc >= 0.5", ["metrics.auc DESC"]),
    ("metrics.auc >= 0.5", ["metrics.auc ASC", "params.depth DESC"]),
    ("metrics.auc IS NOT NULL", ["metrics.auc DESC"]),  # IS NOT NULL keeps NaN: not a required key
    ("params.lr IS NOT NULL", ["params.lr ASC"]),  # r1 and r4 tie on lr: the tiebreak orders them
    ("params.lr IS NOT NULL", ["params.lr DESC", "metrics.auc DESC"]),
    ("params.lr IS NOT NULL and metrics.auc > 0", ["metrics.auc DESC"]),
    ("tags.team IS NOT NULL", ["tags.team DESC"]),
    (None, ["metrics.auc DESC"]),
    ("params.lr IS NOT NULL", ["start_time ASC"]),
]


@pytest.mark.parametrize(("where", "order_by"), _PAGED)
def test_limited_search_pages_are_slices_of_the_full_order(
    engine: Engine, where: str | None, order_by: list[str]
) -> None:
    """``limited_search`` (head + edge for a sort led by a required key) gives each page of the order."""
    full = _ids(engine, where, order_by)
    with engine.connect() as conn:
        for offset in range(len(full) + 1):
            for limit in (1, 2, 3, 10):
                page = list(conn.scalars(limited_search(select(Run.id), where, order_by, offset, limit)))
                assert page == full[offset : offset + limit], (offset, limit)


@pytest.mark.parametrize(
    ("text", "order_by", "expected"),
    [
        ("metrics.auc > 0.4", ["metrics.auc DESC"], "r1 r2 r5"),
        ("metrics.auc > 0.4", ["metrics.auc"], "r5 r2 r1"),
        ("metrics.auc > 0 AND metrics.auc < 0.8", ["metrics.auc DESC"], "r2 r5"),  # two terms, one row
        (
            "metrics.auc IS NOT NULL",
            ["metrics.auc DESC"],
            "r1 r2 r5 r3",
        ),  # NaN passes IS NOT NULL, sorts last
        ("NOT metrics.auc = 0.9", ["metrics.auc"], "r5 r2 r3 r4"),
        ("metrics.auc != 0.9", ["metrics.auc DESC"], "r2 r5"),
        ("metrics.auc NOT IN (0.5)", ["metrics.auc DESC"], "r1 r2"),
        ("metrics.auc >= 0.5 AND params.lr IS NULL", ["metrics.auc DESC"], "r5"),
        ("metrics.`train/loss` < 0.25", ["metrics.auc DESC"], "r1 r3"),  # sorts by a key it does not join
        ("params.lr IS NOT NULL", ["params.lr DESC", "metrics.auc DESC"], "r1 r4 r2"),
        ("params.lr = '0.1' AND tags.team ILIKE 'v%'", ["tags.team", "params.depth DESC"], "r1"),
        ("params.depth NOT IN ('6', '8')", ["params.depth"], "r3"),
        (
            "(metrics.auc > 0.6 AND params.depth IS NOT NULL) AND NOT tags.team = 'x'",
            ["params.depth"],
            "r1 r2",
        ),
        ("metrics.auc > 0.6 OR params.opt = 'adam'", ["metrics.auc DESC"], "r1 r2 r5"),
        ("tags.team LIKE 'v%' AND status = 'FAILED'", ["end_time DESC"], "r3"),
    ],
)
def test_planned_search_filter_and_order(
    engine: Engine, text: str, order_by: list[str], expected: str
) -> None:
    assert _planned_ids(engine, text, order_by) == expected.split()
    assert _ids(engine, text, order_by) == expected.split()


@pytest.mark.parametrize(
    "items",
    [
        ["metrics.auc UP"],
        ["foo"],
        ["metrics.auc DESC extra"],
        [""],
        ["metrics."],
        ["ASC"],
        ["metrics.auc,"],
        ["x.y"],
        ["metrics.`unterminated"],
        ["start_time"] * 11,
        ["metrics." + "a" * 600],
    ],
)
def test_order_by_invalid(items: list[str]) -> None:
    with pytest.raises(InvalidArgument) as exc:
        compile_order_by(items)
    assert exc.value.details["field"] == "order_by"


# ---------------------------------------------------------------- properties

_TOKENS = [
    "metrics.a",
    "params.p",
    "tags.`t x`",
    "status",
    "start_time",
    "=",
    "!=",
    "<",
    ">=",
    "<>",
    "(",
    ")",
    ",",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "'s'",
    '"d"',
    "1",
    "-2.5e3",
    "'RUNNING'",
    "`",
    "'",
    "\\",
    "metrics.",
    "%",
]
_IDENTS = [
    "metrics.a",
    "metrics.`x y`",
    "params.p",
    'tags."t"',
    "status",
    "name",
    "start_time",
    "end_time",
    "run_id",
    "experiment_id",
    "parent_run_id",
    "attr.id",
]
_CMP_OPS = [
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "ILIKE",
    "NOT LIKE",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
]
_OPERANDS = [
    "",
    "1",
    "-2.5e3",
    "1e400",
    "99999999999999999999",
    "0.5",
    "'x'",
    "'running'",
    "'a%\\\\_'",
    "('a', 'b')",
    "(1, 2.5)",
    "(3e99)",
]
_comparison = st.one_of(
    st.builds(
        "{} {} {}".format, st.sampled_from(_IDENTS), st.sampled_from(_CMP_OPS), st.sampled_from(_OPERANDS)
    ),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(["metrics.a", "start_time", "end_time", "experiment_id"]),
        st.sampled_from(["=", "!=", "<", ">="]),
        st.sampled_from(["1", "-2.5e3", "1e400", "0.5", "-0"]),
    ),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(["params.p", 'tags."t"', "name", "run_id", "parent_run_id"]),
        st.sampled_from(["=", "!=", ">", "LIKE", "NOT ILIKE"]),
        st.sampled_from(["'x'", "2", "'a%\\\\_'"]),
    ),
)
_filterish = st.recursive(
    _comparison,
    lambda sub: st.one_of(
        st.builds("({})".format, sub),
        st.builds("NOT {}".format, sub),
        st.builds("{} {} {}".format, sub, st.sampled_from(["AND", "OR", "and", ""]), sub),
    ),
    max_leaves=6,
)


@st.composite
def _garbage(draw: st.DrawFn) -> str:
    """Random text, token soup, or grammar-shaped filters (valid or not), sometimes with a token spliced in."""
    text = draw(
        st.one_of(
            st.text(max_size=60), st.lists(st.sampled_from(_TOKENS), max_size=12).map(" ".join), _filterish
        )
    )
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_TOKENS)) + text[at:]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_garbage())
def test_garbage_only_raises_invalid_argument(engine: Engine, text: str) -> None:
    try:
        clause = compile_filter(text)
    except InvalidArgument as e:
        assert 0 <= e.details["position"] <= len(text)
        return
    if clause is not None:  # whatever parses also runs
        with engine.connect() as conn:
            conn.execute(select(Run.id).where(clause)).all()


_KEY = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_BARE = re.compile(r"[A-Za-z0-9_\-./:]+")


def _key(prefix: str, key: str, quote: str) -> str:
    if quote == "" and _BARE.fullmatch(key):
        return f"{prefix}.{key}"
    q = quote or "`"
    return f"{prefix}.{q}{key.replace(chr(92), chr(92) * 2).replace(q, chr(92) + q)}{q}"


def _string(value: str, quote: str) -> str:
    return (
        quote + value.replace(quote, quote * 2).replace("\\", "\\\\") + quote
        if quote == "'"
        else (quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote)
    )


@given(
    st.sampled_from(["params", "tags"]),
    _KEY,
    st.sampled_from(["", "`", '"']),
    st.sampled_from(["=", "!=", "<", ">=", "LIKE", "NOT ILIKE"]),
    _KEY,
    st.sampled_from(["'", '"']),
)
def test_quoted_keys_and_strings_round_trip(
    prefix: str, key: str, kq: str, op: str, value: str, vq: str
) -> None:
    if op.endswith("LIKE"):
        value = value.rstrip("\\") or "x"
    text = f"{_key(prefix, key, kq)} {op} {_string(value, vq)}"
    assert parse_filter(text) == Comparison(Field(prefix[:-1], key), op, value)


_VALUES = [-1.5, 0.0, 0.25, 1.0, 2.5]
_OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_metric_value = st.one_of(st.none(), st.just(math.nan), st.sampled_from(_VALUES))


@st.composite
def _metric_filter(draw: st.DrawFn, depth: int = 0) -> tuple[str, Any]:
    """A random filter over metrics a and b, with a Python predicate giving its meaning."""
    kind = draw(st.sampled_from(["cmp", "cmp", "null", "in"] + (["and", "or", "not"] if depth < 3 else [])))
    if kind in ("and", "or"):
        (lt, lf), (rt, rf) = draw(_metric_filter(depth + 1)), draw(_metric_filter(depth + 1))
        join = (lambda m: lf(m) and rf(m)) if kind == "and" else (lambda m: lf(m) or rf(m))
        return f"({lt} {kind.upper()} {rt})", join
    if kind == "not":
        t, f = draw(_metric_filter(depth + 1))
        return f"NOT {t}", lambda m: not f(m)
    key = draw(st.sampled_from("ab"))
    present = lambda m: m.get(key) is not None and not math.isnan(m[key])  # noqa: E731
    if kind == "null":
        negate = draw(st.booleans())
        return (
            f"metrics.{key} IS {'NOT ' if negate else ''}NULL",
            lambda m: (m.get(key) is not None) == negate,
        )
    if kind == "in":
        vals, negate = draw(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=3)), draw(st.booleans())
        text = f"metrics.{key} {'NOT ' if negate else ''}IN ({', '.join(map(repr, vals))})"
        return text, lambda m: present(m) and ((m[key] in vals) != negate)
    op, val = draw(st.sampled_from(sorted(_OPS))), draw(st.sampled_from(_VALUES))
    return f"metrics.{key} {op} {val!r}", lambda m: present(m) and _OPS[op](m[key], val)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.fixed_dictionaries({"a": _metric_value, "b": _metric_value}), min_size=1, max_size=6),
    _metric_filter(),
    st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["ASC", "DESC"])), max_size=2),
)
def test_metric_filters_match_python(
    prop_engine: Engine,
    runs: list[dict[str, float | None]],
    flt: tuple[str, Any],
    sort: list[tuple[str, str]],
) -> None:
    text, predicate = flt
    with prop_engine.begin() as conn:
        conn.execute(delete(LatestMetric))
        conn.execute(delete(Run))
        conn.execute(insert(Run), [{"id": f"r{i}", "experiment_id": 1} for i in range(len(runs))])
        rows = [
            {
                "run_id": f"r{i}",
                "key": k,
                "step": 0,
                "timestamp": 0,
                "is_nan": math.isnan(v),
                "value": 0.0 if math.isnan(v) else v,
            }
            for i, m in enumerate(runs)
            for k, v in m.items()
            if v is not None
        ]
        if rows:
            conn.execute(insert(LatestMetric), rows)
        got = set(conn.scalars(select(Run.id).where(compile_filter(text))))  # type: ignore[arg-type]
        order = [f"metrics.{key} {direction}" for key, direction in sort]
        planned = list(conn.scalars(apply_search(select(Run.id), text, order)))
        reference = list(
            conn.scalars(
                select(Run.id)
                .where(compile_filter(text))  # type: ignore[arg-type]
                .order_by(*compile_order_by(order))
            )
        )
        pages = {
            (offset, limit): list(conn.scalars(limited_search(select(Run.id), text, order, offset, limit)))
            for offset, limit in ((0, 1), (0, 2), (1, 2), (2, 3), (0, 10))
        }
    assert got == {f"r{i}" for i, m in enumerate(runs) if predicate(m)}, text
    assert planned == reference, (text, order)
    for (offset, limit), page in pages.items():
        assert page == reference[offset : offset + limit], (text, order, offset, limit)


@pytest.fixture(scope="module")
def prop_engine() -> Iterator[Engine]:
    with _engine() as engine:
        with engine.begin() as conn:
            conn.execute(insert(Experiment), [{"id": 1, "name": "e1"}])
        yield engine


def test_small_tables_keep_the_one_statement_search(engine: Engine) -> None:
    """Head + edge is for large PostgreSQL key tables with many ties; these few rows are neither."""
    from sqlalchemy.orm import Session

    from tether_server.services.tracking import search

    with Session(engine) as session:
        for table in ("latest_metrics", "params", "run_tags"):
            assert search._tie_heavy(session, table) is False
