"""Tokenizer for the run search filter language (the parser lives in ``search_parser``).

Token kinds:

- ``WORD``: a bare word, ``[A-Za-z_][A-Za-z0-9_\\-./:]*`` (keywords and identifiers such as
  ``metrics.val.acc`` or ``metrics.train/loss``). A word ending in ``.`` and glued to a backtick or
  double-quoted string (``metrics.`train loss``` / ``params."my key"``) becomes one ``WORD`` whose
  ``key`` holds the unquoted key.
- ``STRING``: ``'...'`` or ``"..."``; a backslash takes the next character literally and a doubled
  quote stands for itself.
- ``NUMBER``: int, float or exponent, with an optional leading minus sign.
- ``OP``: ``= != <> < <= > >=``; ``LPAREN``, ``RPAREN``, ``COMMA``; ``EOF`` at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import InvalidArgument

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-./:]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_PUNCT = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # source text (a STRING's unescaped value; a quoted WORD's prefix, e.g. "metrics.")
    pos: int
    end: int
    key: str | None = None  # the unquoted key of a ``prefix.`key``` WORD


def syntax_error(message: str, pos: int, text: str) -> InvalidArgument:
    return InvalidArgument(f"{message} at position {pos}", {"position": pos, "filter": text})


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "\x00":  # PostgreSQL text cannot hold NUL; reject it here rather than fail in SQL
            raise syntax_error("Unexpected NUL character", i, text)
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i, i + 1))
            i += 1
        elif ch in "'\"":
            value, end = read_quoted(text, i)
            tokens.append(Token("STRING", value, i, end))
            i = end
        elif m := _NUMBER.match(text, i):
            tokens.append(Token("NUMBER", m.group(), i, m.end()))
            i = m.end()
        elif m := _WORD.match(text, i):
            tok, i = _word(text, m)
            tokens.append(tok)
        elif op := next((o for o in _OPS if text.startswith(o, i)), None):
            tokens.append(Token("OP", op, i, i + len(op)))
            i += len(op)
        else:
            raise syntax_error(f"Unexpected character {ch!r}", i, text)
    tokens.append(Token("EOF", "", n, n))
    return tokens


def _word(text: str, m: re.Match[str]) -> tuple[Token, int]:
    word, end = m.group(), m.end()
    if word.endswith(".") and end < len(text) and text[end] in '`"':
        key, after = read_quoted(text, end)
        return Token("WORD", word, m.start(), after, key=key), after
    return Token("WORD", word, m.start(), end), end


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted string opening at ``start``; return its value and the index after it."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\x00":
            raise syntax_error("Unexpected NUL character", i, text)
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == quote and text.startswith(quote * 2, i):
            out.append(quote)
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise syntax_error("Unterminated quoted string", start, text)
