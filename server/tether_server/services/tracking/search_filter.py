"""The run search filter language: a recursive-descent parser and its compilation to SQLAlchemy.

Grammar (keywords are case-insensitive; AND binds tighter than OR)::

    filter     := or_expr EOF
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" or_expr ")" | comparison
    comparison := identifier operator [value | "(" value ("," value)* ")"]
    operator   := = | != | <> | < | <= | > | >= | [NOT] LIKE | [NOT] ILIKE | [NOT] IN | IS [NOT] NULL

Identifiers are ``metrics.<key>`` (the latest value), ``params.<key>``, ``tags.<key>``,
``datasets.name`` / ``datasets.digest`` / ``datasets.context`` (the run's dataset inputs) or an attribute
(``status``, ``name``/``run_name``, ``start_time``, ``end_time``, ``run_id``/``id``, ``experiment_id``,
``parent_run_id``), optionally prefixed ``attributes.``/``attribute.``/``attr.``. ``metric.``, ``param.``
and ``tag.`` are accepted too. A key with other characters is quoted: ``metrics.`train loss```.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dc_field
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

from ...errors import InvalidArgument
from ...models import Dataset, DatasetVersion, LatestMetric, Param, Run, RunInput, RunTag
from ...models.artifacts import CONTEXT_ALIASES
from .search_lexer import Token, syntax_error, tokenize

MAX_FILTER_CHARS = 4000
MAX_COMPARISONS = 50
MAX_DEPTH = 20
MAX_IN_VALUES = 1000
MAX_ORDER_BY = 10
MAX_ORDER_BY_CHARS = 500
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "datasets": "dataset",
    "dataset": "dataset",
}
_DATASET_KEYS = frozenset({"name", "digest", "context"})
_DATASET_OPS = frozenset({"=", "!=", "IN", "NOT IN", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})
_ATTR_ALIASES = {"run_name": "name", "id": "run_id"}
_COLUMNS: dict[str, Any] = {
    "status": Run.status,
    "name": Run.name,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "run_id": Run.id,
    "experiment_id": Run.experiment_id,
    "parent_run_id": Run.parent_run_id,
}
_NUMERIC_ATTRS = frozenset({"start_time", "end_time", "experiment_id"})
_NULLABLE_ATTRS = frozenset({"end_time", "parent_run_id"})
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
_LIKE_OPS = frozenset({"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Field:
    kind: str  # "metric" | "param" | "tag" | "dataset" | "attribute" (key: the canonical attribute name)
    key: str

    @property
    def numeric(self) -> bool:
        return self.kind == "metric" or (self.kind == "attribute" and self.key in _NUMERIC_ATTRS)


@dataclass(frozen=True)
class Number:
    value: int | float
    text: str


Value = str | Number  # a literal; numbers keep their source text


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # canonical: = != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value | tuple[Value, ...] | None
    pos: int = dc_field(default=0, compare=False)


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | BoolOp | Not


# ---------------------------------------------------------------- parser


def parse_filter(text: str) -> Node:
    """Parse ``text`` into an AST; any error is an ``InvalidArgument`` with its ``position``."""
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidArgument(
            f"The filter is longer than {MAX_FILTER_CHARS} characters",
            {"position": MAX_FILTER_CHARS, "filter": text[:100] + "..."},
        )
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    def parse(self) -> Node:
        node = self.or_expr()
        self.expect_end("Expected AND, OR or the end of the filter")
        return node

    # -- helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += min(1, len(self.tokens) - 1 - self.i)
        return tok

    def error(self, message: str, tok: Token) -> InvalidArgument:
        return syntax_error(message, tok.pos, self.text)

    def source(self, tok: Token) -> str:
        if tok.kind == "EOF":
            return "the end of the filter"
        raw = self.text[tok.pos : tok.end]
        return raw if tok.kind == "STRING" else f"'{raw}'"

    def keyword(self, tok: Token) -> str:
        return tok.text.upper() if tok.kind == "WORD" and tok.key is None else ""

    def expect_end(self, message: str) -> None:
        tok = self.peek()
        if tok.kind != "EOF":
            raise self.error(f"{message}, found {self.source(tok)}", tok)

    @contextmanager
    def nested(self, tok: Token) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"The filter nests deeper than {MAX_DEPTH} levels", tok)
        yield
        self.depth -= 1

    # -- expressions
    def or_expr(self) -> Node:
        return self.chain("OR", self.and_expr)

    def and_expr(self) -> Node:
        return self.chain("AND", self.not_expr)

    def chain(self, word: str, operand: Callable[[], Node]) -> Node:
        items = [operand()]
        while self.keyword(self.peek()) == word:
            self.next()
            items.append(operand())
        return items[0] if len(items) == 1 else BoolOp(word, tuple(items))

    def not_expr(self) -> Node:
        tok = self.peek()
        if self.keyword(tok) == "NOT":
            self.next()
            with self.nested(tok):
                return Not(self.not_expr())
        if tok.kind == "LPAREN":
            self.next()
            with self.nested(tok):
                node = self.or_expr()
            close = self.next()
            if close.kind != "RPAREN":
                raise self.error(
                    f"Expected ')' (closing the '(' opened at position {tok.pos}), "
                    f"found {self.source(close)}",
                    close,
                )
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        ident = self.next()
        fld = self.field(ident)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(f"The filter has more than {MAX_COMPARISONS} comparisons", ident)
        op_tok = self.peek()
        op = self.operator(ident)
        if fld.kind == "dataset" and op not in _DATASET_OPS:
            raise self.error(
                f"{op} does not apply to {self.source(ident)} (use =, !=, [NOT] LIKE, [NOT] ILIKE or [NOT] IN)",
                op_tok,
            )
        if op in _LIKE_OPS and fld.numeric:
            raise self.error(f"{op} applies to strings only, but {self.source(ident)} is numeric", op_tok)
        if op in ("IS NULL", "IS NOT NULL"):
            return Comparison(fld, op, None, ident.pos)
        if op in ("IN", "NOT IN"):
            return Comparison(fld, op, self.value_list(fld, op), ident.pos)
        return Comparison(fld, op, self.literal(fld, op), ident.pos)

    def field(self, tok: Token) -> Field:
        if tok.kind != "WORD" or (tok.key is None and tok.text.upper() in _KEYWORDS):
            raise self.error(
                f"Expected an identifier such as metrics.<key>, params.<key>, tags.<key> "
                f"or an attribute, found {self.source(tok)}",
                tok,
            )
        prefix, dot, key = tok.text.partition(".")
        if tok.key is not None:
            key = tok.key
        if not dot:
            prefix, key = "attributes", prefix
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise self.error(
                f"Unknown identifier prefix '{prefix}' "
                "(expected metrics., params., tags., datasets. or attributes.)",
                tok,
            )
        if not key:
            raise self.error(f"Missing key after '{prefix}.'", tok)
        if kind == "dataset":
            key = key.lower()
            if key not in _DATASET_KEYS:
                raise self.error(
                    f"Unknown dataset field {self.source(tok)} (expected one of {', '.join(sorted(_DATASET_KEYS))})",
                    tok,
                )
        if kind == "attribute":
            key = _ATTR_ALIASES.get(key.lower(), key.lower())
            if key not in _COLUMNS:
                raise self.error(
                    f"Unknown attribute {self.source(tok)} (expected one of {', '.join(sorted(_COLUMNS))})",
                    tok,
                )
        return Field(kind, key)

    def operator(self, ident: Token) -> str:
        tok = self.next()
        if tok.kind == "OP":
            return "!=" if tok.text == "<>" else tok.text
        word = self.keyword(tok)
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        if word == "NOT":
            nxt = self.next()
            if self.keyword(nxt) in ("LIKE", "ILIKE", "IN"):
                return f"NOT {self.keyword(nxt)}"
            raise self.error(f"Expected IN, LIKE or ILIKE after NOT, found {self.source(nxt)}", nxt)
        if word == "IS":
            nxt = self.next()
            if self.keyword(nxt) == "NULL":
                return "IS NULL"
            last = self.next() if self.keyword(nxt) == "NOT" else nxt
            if last is not nxt and self.keyword(last) == "NULL":
                return "IS NOT NULL"
            raise self.error(f"Expected NULL or NOT NULL after IS, found {self.source(last)}", last)
        raise self.error(
            f"Expected a comparison operator after {self.source(ident)}, found {self.source(tok)}", tok
        )

    def value_list(self, fld: Field, op: str) -> tuple[Value, ...]:
        tok = self.next()
        if tok.kind != "LPAREN":
            raise self.error(f"Expected '(' and a list of values after {op}, found {self.source(tok)}", tok)
        values = [self.literal(fld, op)]
        while self.peek().kind == "COMMA":
            self.next()
            values.append(self.literal(fld, op))
            if len(values) > MAX_IN_VALUES:
                raise self.error(f"{op} lists are limited to {MAX_IN_VALUES} values", self.peek())
        close = self.next()
        if close.kind != "RPAREN":
            raise self.error(f"Expected ',' or ')' in the {op} list, found {self.source(close)}", close)
        return tuple(values)

    def literal(self, fld: Field, op: str) -> Value:
        tok = self.next()
        if tok.kind not in ("STRING", "NUMBER"):
            raise self.error(f"Expected a string or a number, found {self.source(tok)}", tok)
        if fld.numeric:
            if tok.kind == "STRING":
                raise self.error(
                    f"Expected a number: {fld.kind} '{fld.key}' compares numerically, "
                    f"found the string {self.source(tok)}",
                    tok,
                )
            return _number(tok.text)
        if op in _LIKE_OPS:
            if ends_in_escape(tok.text):
                raise self.error("A LIKE pattern cannot end with an unescaped backslash", tok)
            return tok.text
        if fld == Field("attribute", "status"):
            if tok.text.upper() not in STATUSES:
                raise self.error(
                    f"Invalid status {self.source(tok)} (expected one of {', '.join(STATUSES)})", tok
                )
            return tok.text.upper()
        if fld == Field("dataset", "context"):
            return CONTEXT_ALIASES.get(tok.text.strip().lower(), tok.text)
        return tok.text


def ends_in_escape(pattern: str) -> bool:
    """True when a LIKE pattern ends with an unescaped backslash (which no database accepts)."""
    return (len(pattern) - len(pattern.rstrip("\\"))) % 2 == 1


def _number(text: str) -> Number:
    if text.lstrip("-").isdigit() and abs(int(text)) < 2**63:
        return Number(int(text), text)
    return Number(float(text), text)


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


def parse_order_by(items: list[str] | None) -> list[tuple[Field, bool]]:
    """``(field, descending)`` per order_by item, checked like ``compile_order_by`` checks them."""
    items = items or []
    if len(items) > MAX_ORDER_BY:
        raise InvalidArgument(
            f"order_by accepts at most {MAX_ORDER_BY} items", {"field": "order_by", "max": MAX_ORDER_BY}
        )
    return [parse_order_item(item) for item in items]


def parse_order_item(item: str) -> tuple[Field, bool]:
    if len(item) > MAX_ORDER_BY_CHARS:
        raise InvalidArgument(
            f"An order_by item is longer than {MAX_ORDER_BY_CHARS} characters",
            {"field": "order_by", "max_chars": MAX_ORDER_BY_CHARS},
        )
    try:
        parser = _Parser(item)
        fld = parser.field(parser.next())
        direction = parser.keyword(parser.peek())
        if direction in ("ASC", "DESC"):
            parser.next()
        parser.expect_end("Expected ASC, DESC or the end of the order_by item")
        if fld.kind == "dataset":
            raise parser.error("Runs cannot be ordered by a dataset field", parser.tokens[0])
    except InvalidArgument as e:
        raise InvalidArgument(
            f"Invalid order_by {item!r}: {e.message}", {**e.details, "field": "order_by", "order_by": item}
        ) from None
    return fld, direction == "DESC"


def _sort_value(fld: Field) -> Any:
    if fld.kind == "attribute":
        return _COLUMNS[fld.key]
    model, where = _key_rows(fld)
    if fld.kind == "metric":
        where.append(LatestMetric.is_nan == false())  # a NaN latest value sorts like a missing one
    return select(model.value).where(*where).scalar_subquery()
