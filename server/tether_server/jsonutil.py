"""JSON encoding (orjson).

Non-finite metric values travel as the strings "NaN", "Infinity" and "-Infinity", both ways (the README;
protobuf's JSON mapping, which MLflow's client reads). On the way out that is ``float_out``, applied by the
``MetricValue`` schema field (``schemas.dump``) to every metric value a response carries. ``dumps`` itself
cannot do it: orjson writes a bare NaN or infinity as ``null``, so a float that may be non-finite must go
through ``float_out`` (a ``MetricValue`` field) before it gets here. On the way in, see
``services.validation.metric_value``. Flask's JSON provider built on ``dumps`` is ``flaskjson.OrjsonProvider``
(this module stays free of Flask: services and the command line use it).
"""

from __future__ import annotations

import math
from typing import Any

import orjson

NONFINITE_OUT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_out(value: float | None) -> float | str | None:
    """A metric value for the wire: finite floats (and None) unchanged, the others as their string names."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def floats_out(values: list[Any]) -> list[Any]:
    """``float_out`` over a list: the list itself when every value is a finite number, which one
    C-level ``sum`` proves (a NaN or an infinity makes the sum non-finite; an overflow only costs the
    slow path), so a 10,000-value history column is not converted value by value."""
    try:
        if math.isfinite(sum(values)):
            return values
    except (TypeError, OverflowError):  # None, a string or a huge integer among them
        pass
    return [float_out(v) for v in values]


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)
