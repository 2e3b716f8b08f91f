"""Artifact and model-file path rules, shared by the server (which answers 400) and the SDK (which
checks before sending, so ``requests`` cannot quietly normalise ``..`` away and turn it into a 404).

A path is relative POSIX text. Refused, in the text as given and in each percent-decoding of it:
backslashes, control characters, a leading ``/``, a first segment that looks like a URL scheme or a
drive (``file:``, ``s3:``, ``c:``), segments made only of dots, spaces and tabs other than ``.``
(``..``, ``.. ``, ``...``, ``..;x``: what a server or proxy in front of us may read as ``..``), empty
segments (``a//b``; one trailing ``/`` only for list prefixes), and percent-escapes that do not decode
to UTF-8 (``%ff%fe``, the overlong ``%c0%ae``). ``.`` segments are dropped. Pure Python, no imports
beyond the standard library.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MAX_PATH = 1000
MAX_SEGMENT = 255
MAX_DECODINGS = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_OR_DRIVE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DOTS_AND_BLANKS = re.compile(r"^[. \t]*$")


class PathRuleError(ValueError):
    """A path breaks a rule; ``reason`` completes "Invalid artifact path: ..."."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Invalid artifact path: {reason}")
        self.path = path
        self.reason = reason

    @property
    def message(self) -> str:
        return f"Invalid artifact path: {self.reason}"


def _segment_problem(seg: str) -> str | None:
    core = seg.split(";", 1)[0]
    if seg != "." and _DOTS_AND_BLANKS.match(core) and (core or seg.startswith(";")):
        return "segments made only of dots, spaces or tabs (such as '..', '.. ', '..;x') are not allowed"
    return None


def _form_problem(text: str, allow_trailing_slash: bool) -> str | None:
    if "\\" in text:
        return "backslashes are not allowed"
    if _CONTROL.search(text):
        return "control characters are not allowed"
    if text.startswith("/"):
        return "absolute paths are not allowed"
    segments = text.split("/")
    if allow_trailing_slash and len(segments) > 1 and segments[-1] == "":
        segments = segments[:-1]
    if "" in segments and text:
        return "empty segments ('a//b') are not allowed"
    first = next((s for s in segments if s != "."), "")
    if _SCHEME_OR_DRIVE.match(first):
        return "the first segment must not look like a URL scheme or drive ('file:', 's3:', 'c:')"
    for seg in segments:
        problem = _segment_problem(seg)
        if problem:
            return problem
    return None


def check_artifact_path(raw: object, *, allow_empty: bool = False) -> str:
    """The canonical path (``.`` segments and a list prefix's trailing ``/`` dropped) or PathRuleError."""
    if not isinstance(raw, str):
        raise PathRuleError(repr(raw)[:200], "the path must be a string")
    if len(raw) > MAX_PATH:
        raise PathRuleError(raw, f"longer than {MAX_PATH} characters")
    text = raw
    for _ in range(MAX_DECODINGS):  # the path as given, then each percent-decoding (double encoding)
        problem = _form_problem(text, allow_empty)
        if problem:
            raise PathRuleError(raw, problem)
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise PathRuleError(
                raw, "percent-escapes must encode valid UTF-8 (no '%ff', no overlong '%c0%ae')"
            ) from None
        if decoded == text:
            break
        text = decoded
    else:
        raise PathRuleError(raw, "too many levels of percent-encoding")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(len(p) > MAX_SEGMENT for p in parts):
        raise PathRuleError(raw, f"a segment is longer than {MAX_SEGMENT} characters")
    if not parts and not allow_empty:
        raise PathRuleError(raw, "empty path")
    return "/".join(parts)


def sdk_check(raw: str, *, allow_empty: bool = False) -> str:
    """``check_artifact_path`` for the SDK: the error the server's 400 would give (``BadRequestError``,
    same code, message and details), raised before anything is sent."""
    from .errors import BadRequestError

    try:
        return check_artifact_path(raw, allow_empty=allow_empty)
    except PathRuleError as e:
        details = {"field": "path", "path": e.path[:200]}
        raise BadRequestError(400, "INVALID_ARGUMENT", e.message, details) from None
