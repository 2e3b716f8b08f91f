"""Split rows or a frame into the monitor windows their timestamps fall in, without importing pandas,
pyarrow or polars ourselves.

Windows are aligned to the epoch in UTC: a row with timestamp ``t`` (epoch milliseconds) belongs to
the window starting at ``t - t % L`` for the window length ``L`` in milliseconds. A timestamp is an
int or float of epoch **milliseconds**, a ``datetime`` (naive ones are taken as UTC), a
``numpy.datetime64``, an ISO-8601 string, or a pandas/arrow timestamp column; a missing or null
timestamp means "now" (the ``default_ms`` the caller passes).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["to_ms", "window_start", "split_by_window", "row_count"]

_UTC = _dt.UTC


def window_start(ts_ms: int, window_ms: int) -> int:
    return ts_ms - ts_ms % window_ms


def to_ms(value: Any, default_ms: int) -> int:
    """One timestamp as epoch milliseconds (``default_ms`` for None/NaN/NaT)."""
    if value is None:
        return default_ms
    if isinstance(value, bool):
        raise TypeError("a timestamp cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return default_ms
        if math.isinf(value):
            raise ValueError("a timestamp must be finite")
        return int(value)
    if isinstance(value, _dt.datetime):
        if type(value).__name__ == "NaTType":
            return default_ms
        aware = value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, _dt.date):
        return to_ms(_dt.datetime(value.year, value.month, value.day, tzinfo=_UTC), default_ms)
    if isinstance(value, str):
        try:
            return to_ms(_dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")), default_ms)
        except ValueError:
            raise ValueError(f"timestamp {value!r} is not epoch ms or ISO-8601") from None
    name = type(value).__name__
    if name == "datetime64":
        if value != value:  # NaT
            return default_ms
        return int(value.astype("datetime64[ms]").astype("int64"))
    if name in ("NaTType", "NAType"):
        return default_ms
    if hasattr(value, "__int__"):  # numpy integers and floats
        return to_ms(float(value), default_ms)
    raise TypeError(f"cannot read a timestamp from a {name}")


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def row_count(data: Any) -> int:
    mod = _module(data)
    if mod in ("pandas", "polars"):
        return len(data)
    if mod == "pyarrow" and hasattr(data, "num_rows"):
        return int(data.num_rows)
    if isinstance(data, Mapping):
        return len(next(iter(data.values()), []))
    return len(data)


def split_by_window(
    data: Any, *, window_ms: int, column: str, default_ms: int, timestamp: Any = None
) -> list[tuple[int, Any]]:
    """``[(window_start, part of data), ...]``: the rows of ``data`` grouped by window.

    Row timestamps come from ``column`` when the data has it, else from ``timestamp`` (one value for
    every row), else ``default_ms``. Parts keep the input's type (a pandas frame gives pandas frames).
    """
    if window_ms <= 0:
        raise ValueError("window length must be positive")
    mod = _module(data)
    if mod == "polars":
        data, mod = data.to_arrow(), "pyarrow"
    fallback = to_ms(timestamp, default_ms) if timestamp is not None else default_ms
    if mod == "pandas" and hasattr(data, "columns"):
        return _pandas(data, window_ms, column, fallback)
    if mod == "pyarrow" and hasattr(data, "schema"):
        return _arrow(data, window_ms, column, fallback)
    if isinstance(data, Mapping):
        return _columns(data, window_ms, column, fallback)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            "expected a list of dicts, a dict of columns, or a pandas/pyarrow/polars frame, "
            f"got {type(data).__name__}"
        )
    return _rows(list(data), window_ms, column, fallback)


def _group(starts: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(starts):
        groups.setdefault(s, []).append(i)
    return groups


def _rows(rows: list[Any], window_ms: int, column: str, fallback: int) -> list[tuple[int, Any]]:
    starts = [
        window_start(to_ms(r.get(column) if isinstance(r, Mapping) else None, fallback), window_ms)
        for r in rows
    ]
    if len(set(starts)) <= 1:
        return [(starts[0] if starts else window_start(fallback, window_ms), rows)]
    return [(s, [rows[i] for i in idx]) for s, idx in sorted(_group(starts).items())]


def _columns(data: Mapping[str, Any], window_ms: int, column: str, fallback: int) -> list[tuple[int, Any]]:
    if column not in data:
        return [(window_start(fallback, window_ms), data)]
    ts = data[column]
    values = ts.tolist() if hasattr(ts, "tolist") else list(ts)
    starts = [window_start(to_ms(v, fallback), window_ms) for v in values]
    if len(set(starts)) <= 1:
        return [(starts[0] if starts else window_start(fallback, window_ms), data)]
    out = []
    for s, idx in sorted(_group(starts).items()):
        part = {}
        for k, v in data.items():
            part[k] = v[idx] if hasattr(v, "dtype") else [v[i] for i in idx]  # numpy fancy indexing
        out.append((s, part))
    return out


def _numpy_split(np: Any, ms: Any, window_ms: int, take: Any) -> list[tuple[int, Any]]:
    starts = ms - ms % window_ms
    uniq = np.unique(starts)
    if uniq.size <= 1:
        return [(int(uniq[0]), take(None))] if uniq.size else []
    return [(int(u), take(np.flatnonzero(starts == u))) for u in uniq]


def _pandas(df: Any, window_ms: int, column: str, fallback: int) -> list[tuple[int, Any]]:
    import numpy as np

    if column not in df.columns or len(df) == 0:
        return [(window_start(fallback, window_ms), df)]
    s = df[column]
    kind = getattr(s.dtype, "kind", "O")
    if kind == "M" or str(s.dtype).startswith("datetime64"):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        ms = s.astype("datetime64[ms]").astype("int64").to_numpy()
        ms = np.where(s.isna().to_numpy(), fallback, ms)
    elif kind in "iuf":
        f = s.to_numpy(dtype=np.float64, na_value=np.nan)
        ms = np.where(np.isnan(f), fallback, f).astype(np.int64)
    else:
        ms = np.fromiter((to_ms(v, fallback) for v in s.tolist()), dtype=np.int64, count=len(s))
    return _numpy_split(np, ms, window_ms, lambda idx: df if idx is None else df.iloc[idx])


def _arrow(table: Any, window_ms: int, column: str, fallback: int) -> list[tuple[int, Any]]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.schema.names or table.num_rows == 0:
        return [(window_start(fallback, window_ms), table)]
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        col = pc.cast(pc.cast(col, pa.timestamp("ms", tz=col.type.tz)), pa.int64())
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        col = pc.cast(col, pa.float64())
    else:
        vals = col.to_pylist()
        col = pa.array([to_ms(v, fallback) for v in vals], type=pa.int64())
    ms = pc.fill_null(col, fallback).to_numpy(zero_copy_only=False)
    ms = (
        np.where(np.isnan(ms), fallback, ms).astype(np.int64) if ms.dtype.kind == "f" else ms.astype(np.int64)
    )
    return _numpy_split(np, ms, window_ms, lambda idx: table if idx is None else table.take(idx))
