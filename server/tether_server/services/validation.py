"""Key, name and value rules shared by the tracking services (documented in the README)."""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InvalidArgument
from ..models.tracking import KEY_LEN, VALUE_LEN

# Letters, digits, and _ - . / : space. Not starting with / and no '..' segment.
KEY_RE = re.compile(r"^[A-Za-z0-9_\-./: ]+$")
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
TERMINAL = ("FINISHED", "FAILED", "KILLED")
NONFINITE_IN = {
    "NaN": math.nan,
    "nan": math.nan,
    "Infinity": math.inf,
    "inf": math.inf,
    "-Infinity": -math.inf,
    "-inf": -math.inf,
}
INT64 = 2**63 - 1


def check_key(key: Any, what: str = "key") -> str:
    if (
        not isinstance(key, str)
        or not key
        or len(key) > KEY_LEN
        or not KEY_RE.match(key)
        or key.startswith("/")
        or key.endswith("/")
        or "//" in key
        or ".." in key.split("/")
    ):
        raise InvalidArgument(
            f"Invalid {what} {str(key)[:100]!r}: 1-{KEY_LEN} characters of letters, digits, _ - . / : "
            "and space, with no empty or '..' path segment",
            {"field": what, "key": str(key)[:300]},
        )
    return key


def check_value(value: Any, what: str = "value") -> str:
    if isinstance(value, bool):
        value = str(value)
    elif isinstance(value, (int, float)):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string or number", {"field": what})
    if len(value) > VALUE_LEN:
        raise InvalidArgument(f"{what} is longer than {VALUE_LEN} characters", {"field": what})
    return value


def metric_value(raw: Any) -> float:
    """A JSON number, or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(raw, bool):
        raise ValueError("bool")
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str) and raw in NONFINITE_IN:
        return NONFINITE_IN[raw]
    raise ValueError("not a number")


def check_int(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (minimum <= value <= INT64):
        raise InvalidArgument(f"{what} must be an integer ≥ {minimum}", {"field": what})
    return value


def check_tags(tags: Any, what: str = "tags") -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidArgument(f"{what} must be an object of key → value", {"field": what})
    if len(tags) > 1000:
        raise InvalidArgument(f"at most 1000 {what} per request", {"field": what})
    return {check_key(k, f"{what} key"): check_value(v, f"{what} value") for k, v in tags.items()}
