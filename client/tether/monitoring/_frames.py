"""Turn rows or a frame into per-column data without importing pandas, pyarrow or polars ourselves.

A column comes back as one of:

- ``("np", values, null_mask)``: a float64 numpy array (and a boolean null mask or ``None``), only
  for numeric-typed sources when numpy is used;
- ``("py", values)``: a Python sequence of arbitrary values, where :data:`ABSENT` marks a row whose
  dict had no such key;
- ``("absent",)``: the source has no such column at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ABSENT: Any = type("_Absent", (), {"__repr__": lambda self: "ABSENT"})()
Column = tuple[Any, ...]


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def extract(
    data: Any, names: Sequence[str], numeric: frozenset[str], np: Any | None
) -> tuple[int, dict[str, Column], dict[str, int]]:
    """``(rows, {name: column}, {unexpected name: rows})`` for the reference columns ``names``.

    ``numeric`` names the columns binned as numbers (the only ones worth a numpy array).
    """
    mod = _module(data)
    if mod == "polars":
        data, mod = data.to_arrow(), "pyarrow"
    if mod == "pandas" and hasattr(data, "columns"):
        return _pandas(data, names, numeric, np)
    if mod == "pyarrow" and hasattr(data, "schema"):
        return _arrow(data, names, numeric, np)
    if isinstance(data, Mapping):
        return _mapping(data, names, numeric, np)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            "expected a list of dicts, a dict of columns, or a pandas/pyarrow/polars frame, "
            f"got {type(data).__name__}"
        )
    return _rows(list(data), names)


def _rows(rows: list[Any], names: Sequence[str]) -> tuple[int, dict[str, Column], dict[str, int]]:
    if not all(type(r) is dict for r in rows):
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise TypeError(f"row {i} is a {type(r).__name__}, expected a dict of column -> value")
    cols: dict[str, Column] = {name: ("py", [r.get(name, ABSENT) for r in rows]) for name in names}
    if set(map(len, rows)) <= {len(names)} and all(col[1].count(ABSENT) == 0 for col in cols.values()):
        return len(rows), cols, {}  # every row has exactly the reference columns: nothing unexpected
    known = set(names)
    unexpected = Counter(str(key) for r in rows for key in r if key not in known)
    return len(rows), cols, dict(unexpected)


def _mapping(
    data: Mapping[str, Any], names: Sequence[str], numeric: frozenset[str], np: Any | None
) -> tuple[int, dict[str, Column], dict[str, int]]:
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    cols: dict[str, Column] = {}
    for name in names:
        if name not in data:
            cols[name] = ("absent",)
            continue
        v = data[name]
        if np is not None and name in numeric and isinstance(v, np.ndarray) and v.dtype.kind in "iuf":
            cols[name] = ("np", v.astype(np.float64, copy=False), None)
        else:
            cols[name] = ("py", v.tolist() if hasattr(v, "tolist") else list(v))
    known = set(names)
    return n, cols, {str(k): n for k in data if k not in known}


def _pandas(
    df: Any, names: Sequence[str], numeric: frozenset[str], np: Any | None
) -> tuple[int, dict[str, Column], dict[str, int]]:
    n = len(df)
    present = {str(c): c for c in df.columns}
    cols: dict[str, Column] = {}
    for name in names:
        if name not in present:
            cols[name] = ("absent",)
            continue
        s = df[present[name]]
        kind = getattr(s.dtype, "kind", "O")
        if np is not None and name in numeric and kind in "iuf":
            if isinstance(s.dtype, np.dtype):  # plain numpy dtype: NaN is a NaN, there are no nulls
                cols[name] = ("np", s.to_numpy(dtype=np.float64), None)
            else:  # nullable extension dtype (Int64, Float64): pd.NA is a null
                mask = s.isna().to_numpy(dtype=bool)
                cols[name] = ("np", s.to_numpy(dtype=np.float64, na_value=np.nan), mask)
        else:
            cols[name] = ("py", s.tolist())
    known = set(names)
    return n, cols, {k: n for k in present if k not in known}


def _arrow(
    table: Any, names: Sequence[str], numeric: frozenset[str], np: Any | None
) -> tuple[int, dict[str, Column], dict[str, int]]:
    import pyarrow as pa  # the caller passed a pyarrow object, so it is installed

    n = table.num_rows
    present = list(table.schema.names)
    cols: dict[str, Column] = {}
    for name in names:
        if name not in present:
            cols[name] = ("absent",)
            continue
        col = table.column(name)
        typ = col.type
        if np is not None and name in numeric and (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
            mask = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
            values = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
            cols[name] = ("np", np.asarray(values, dtype=np.float64), mask)
        else:
            cols[name] = ("py", col.to_pylist())
    known = set(names)
    return n, cols, {k: n for k in present if k not in known}
