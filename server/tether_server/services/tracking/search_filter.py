"""The run search filter compiled to SQLAlchemy: a WHERE clause over ``Run`` from the AST that
``search_parser`` builds, the ORDER BY for ``order_by`` items, and the SQL comparison helpers
(``compare``, case-sensitive LIKE, a dataset version's digest) that other searches reuse.

Semantics:

- Metrics compare numerically; a NaN latest value matches no comparison (it still counts for
  ``IS NOT NULL``). ``metrics.x != 1`` means "has x and x differs from 1"; ``NOT metrics.x = 1`` also
  matches runs without x.
- Params and tags are strings. A number literal compares as its source text (``params.depth = 6`` is
  ``params.depth = '6'``; ``params.lr = 0.10`` does not match ``'0.1'``). ``<``/``>`` compare strings in
  the database's collation.
- ``LIKE`` is case-sensitive on every backend, ``ILIKE`` is not; ``%`` and ``_`` are wildcards and a
  backslash escapes them (write ``'\\\\%'`` in a filter, since the string literal eats one backslash).
- ``IS NULL`` on a metric, param or tag means the run has no such key.
- A ``datasets.`` term (``=``, ``!=``, ``[NOT] [I]LIKE``, ``[NOT] IN``) matches a run that has a
  dataset input satisfying it (``datasets.name != 'a'``: some input not named a). ``digest`` is the
  digest an MLflow dataset was logged with, else the version's root hash; ``context`` is Tether's
  context (training, validation, evaluation), and an ``=``/``!=``/``IN`` value is read through
  ``CONTEXT_ALIASES`` (``'train'`` is training). Datasets cannot be sorted on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal

from ...models import Dataset, DatasetVersion, LatestMetric, Param, Run, RunInput, RunTag
from .search_parser import (
    _COLUMNS,
    _LIKE_OPS,
    BoolOp,
    Comparison,
    Field,
    Node,
    Not,
    Number,
    Value,
    parse_filter,
    parse_order_by,
)

_NULLABLE_ATTRS = frozenset({"end_time", "parent_run_id"})
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# ---------------------------------------------------------------- compilation


def compile_filter(text: str | None) -> ColumnElement[bool] | None:
    """A WHERE clause over ``Run`` for ``text``; None when there is no filter."""
    if text is None or not text.strip():
        return None
    return compile_node(parse_filter(text))


def compile_node(node: Node) -> ColumnElement[bool]:
    if isinstance(node, BoolOp):
        items = [compile_node(item) for item in node.items]
        return and_(*items) if node.op == "AND" else or_(*items)
    if isinstance(node, Not):
        return not_(compile_node(node.item))
    return _compile_comparison(node)


def _compile_comparison(c: Comparison) -> ColumnElement[bool]:
    if c.field.kind == "dataset":
        return _dataset_inputs(c)
    if c.field.kind == "attribute":
        col = _COLUMNS[c.field.key]
        expr = compare(col, c.op, c.value)
        if c.field.key in _NULLABLE_ATTRS and not c.op.startswith("IS "):
            expr = and_(col.is_not(None), expr)  # keep NOT two-valued: NULL never matches
        return expr
    model, where = _key_rows(c.field)
    if c.op == "IS NULL":
        return ~exists().where(*where)
    if c.op == "IS NOT NULL":
        return exists().where(*where)
    if c.field.kind == "metric":
        where.append(LatestMetric.is_nan == false())
    return exists().where(*where, compare(model.value, c.op, c.value))


def _dataset_inputs(c: Comparison) -> ColumnElement[bool]:
    """Some dataset input of the run satisfies ``c``."""
    value: Any = {
        "name": Dataset.name,
        "context": RunInput.context,
        "digest": dataset_digest(),
    }[c.field.key]
    return exists().where(
        RunInput.run_id == Run.id,
        DatasetVersion.id == RunInput.dataset_version_id,
        Dataset.id == DatasetVersion.dataset_id,
        compare(value, c.op, c.value),
    )


#: The manifest entry an MLflow dataset is stored as: ``mlflow/<source type>/<digest>``.
MLFLOW_DATASET_PREFIX = "mlflow/"


def dataset_digest() -> ColumnElement[str]:
    """A dataset version's digest in SQL: for an MLflow dataset (a one-entry manifest
    ``mlflow/<source type>/<digest>``) the digest it was logged with, else the root hash."""
    path = DatasetVersion.manifest[(0, "path")].as_string()
    is_mlflow = and_(
        DatasetVersion.file_count == 1,
        compare(path, "LIKE", MLFLOW_DATASET_PREFIX + "%/%"),
    )
    return case((is_mlflow, _AfterSecondSlash(path)), else_=DatasetVersion.root_hash)


class _AfterSecondSlash(ColumnElement[str]):
    """The part of a string after its second ``/`` (the manifest path's digest)."""

    inherit_cache = True
    type = String()
    _traverse_internals = [("text", InternalTraversal.dp_clauseelement)]

    def __init__(self, text: Any) -> None:
        self.text = text


@compiles(_AfterSecondSlash)
def _compile_after_second_slash(element: _AfterSecondSlash, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.process(element.text, **kw)
    return f"substring({text} from '^[^/]*/[^/]*/(.*)$')"


@compiles(_AfterSecondSlash, "sqlite")
def _compile_after_second_slash_sqlite(element: _AfterSecondSlash, compiler: SQLCompiler, **kw: Any) -> str:
    text = compiler.process(element.text, **kw)
    rest = f"substr({text}, instr({text}, '/') + 1)"
    return f"substr({rest}, instr({rest}, '/') + 1)"


KEY_MODELS: dict[str, Any] = {"metric": LatestMetric, "param": Param, "tag": RunTag}


def _key_rows(fld: Field) -> tuple[Any, list[ColumnElement[bool]]]:
    model = KEY_MODELS[fld.kind]
    return model, [model.run_id == Run.id, model.key == fld.key]


def compare(col: Any, op: str, value: Value | tuple[Value, ...] | None) -> ColumnElement[bool]:
    if value is None:
        return col.is_(None) if op == "IS NULL" else col.is_not(None)  # type: ignore[no-any-return]
    if isinstance(value, tuple):
        values = [_bind(v, col) for v in value]
        return col.in_(values) if op == "IN" else col.not_in(values)
    if op in _BINARY:
        return _BINARY[op](col, _bind(value, col))  # type: ignore[no-any-return]
    if op in _LIKE_OPS:
        pattern = str(value)
        expr = col.ilike(pattern, escape="\\") if op.endswith("ILIKE") else _CaseSensitiveLike(col, pattern)
        return not_(expr) if op.startswith("NOT") else expr
    raise AssertionError(f"unknown operator {op}")


def _bind(value: Value, col: Any) -> Any:
    if not isinstance(value, Number):
        return value
    limit = 2**31 if isinstance(col.type, Integer) and not isinstance(col.type, BigInteger) else 2**63
    if isinstance(value.value, int) and -limit <= value.value < limit:
        return value.value
    # A fraction or an out-of-range integer: compare as a float, not cast (rounded) to the column type.
    return bindparam(None, float(value.value), type_=Float())


class _CaseSensitiveLike(ColumnElement[bool]):
    """``col LIKE pattern ESCAPE '\\'``; on SQLite, whose LIKE ignores ASCII case, an equivalent GLOB."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("col", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
        ("glob", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, col: Any, pattern: str) -> None:
        self.col = col
        self.pattern: BindParameter[str] = bindparam(None, pattern, unique=True)
        self.glob: BindParameter[str] = bindparam(None, like_to_glob(pattern), unique=True)


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.col.like(element.pattern, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.col.bool_op("GLOB")(element.glob), **kw)


def like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (backslash escape) to the same match as a SQLite GLOB pattern."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        else:
            out.append({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- ordering


def compile_order_by(items: list[str] | None) -> list[ColumnElement[Any]]:
    """ORDER BY elements for ``items`` like ``"metrics.auc DESC"``; missing keys sort last."""
    order = [sort_direction(_sort_value(fld), descending) for fld, descending in parse_order_by(items)]
    return [*order, *tiebreak()]


def sort_direction(expr: Any, descending: bool, nullable: bool = True) -> ColumnElement[Any]:
    """``expr`` ASC or DESC; a nullable one sorts its NULLs (missing keys) last."""
    ordered = expr.desc() if descending else expr.asc()
    return ordered.nulls_last() if nullable else ordered


def attribute_order(fld: Field, descending: bool) -> ColumnElement[Any]:
    """ORDER BY element for an attribute; only nullable columns get NULLS LAST (keeps indexes usable)."""
    return sort_direction(*attribute_sort(fld, descending))


def attribute_sort(fld: Field, descending: bool) -> tuple[Any, bool, bool]:
    """``(column, descending, nullable)`` for sorting on an attribute (see ``attribute_order``)."""
    return _COLUMNS[fld.key], descending, fld.key in _NULLABLE_ATTRS


def tiebreak() -> list[ColumnElement[Any]]:
    """What every search ends its ORDER BY with, so pages are stable: newest first, then id."""
    return [sort_direction(*item) for item in tiebreak_sort()]


def tiebreak_sort() -> list[tuple[Any, bool, bool]]:
    """``tiebreak`` as ``(column, descending, nullable)`` items."""
    return [(Run.start_time, True, False), (Run.id, False, False)]


def _sort_value(fld: Field) -> Any:
    if fld.kind == "attribute":
        return _COLUMNS[fld.key]
    model, where = _key_rows(fld)
    if fld.kind == "metric":
        where.append(LatestMetric.is_nan == false())  # a NaN latest value sorts like a missing one
    return select(model.value).where(*where).scalar_subquery()
