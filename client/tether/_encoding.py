"""JSON for the wire: non-finite metric values travel as the strings "NaN", "Infinity", "-Infinity"."""

from __future__ import annotations

import json
import math
from typing import Any

_TO_WIRE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_FROM_WIRE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_value(value: float) -> float | str:
    """A metric value as sent: finite floats as numbers, the others as their string names."""
    if math.isfinite(value):
        return value
    return _TO_WIRE[repr(float(value))]


def decode_value(value: Any) -> float:
    """A metric value as received (number or one of the three strings) as a float."""
    if isinstance(value, str):
        try:
            return _FROM_WIRE[value]
        except KeyError:
            return float(value)
    return float(value)


def dumps(obj: Any) -> bytes:
    """Strict JSON (a stray NaN outside metric values is a bug, not something to send)."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    return json.loads(data)
