"""The run search filter language: its AST and a recursive-descent parser (tokens come from
``search_lexer``), plus the parser for ``order_by`` items. ``search_filter`` compiles the AST to SQL.

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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ...errors import InvalidArgument
from ...models import Run
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
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
_LIKE_OPS = frozenset({"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"})


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


# ---------------------------------------------------------------- order_by


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
