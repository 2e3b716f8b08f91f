"""Writing the local-explanation sample in the layout the server accepts (needs pyarrow).

One flat Parquet table, one row per prediction (at most 1,000 rows)::

    prediction               the model's output (number or string)
    input.<feature>          the input value of each feature
    attribution.<feature>    the attribution of each feature to this prediction (float64)
    row_id, label, base_value   optional: your row id, the true outcome, the expected output

Upload it with ``client.models.upload_local_explanations(name, version, path)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

LOCAL_SAMPLE_MAX_ROWS = 1_000


def _column(values: Any) -> list[Any]:
    return list(values.tolist() if hasattr(values, "tolist") else values)


def write_local_sample(
    path: str | os.PathLike[str],
    inputs: Mapping[str, Sequence[Any]],
    attributions: Mapping[str, Sequence[float]],
    predictions: Sequence[Any],
    *,
    row_ids: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    base_values: Sequence[float] | None = None,
) -> int:
    """Write the sample to ``path``; returns the row count. ``inputs`` and ``attributions`` map a
    feature to its column of values (lists, numpy arrays or pandas Series)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("write_local_sample needs pyarrow: pip install 'tether[explain]'") from None
    n = len(predictions)
    if not 1 <= n <= LOCAL_SAMPLE_MAX_ROWS:
        raise ValueError(f"{n} rows; a local explanation sample has 1 to {LOCAL_SAMPLE_MAX_ROWS}")
    if not inputs or not attributions:
        raise ValueError("give at least one input column and one attribution column")
    cols: dict[str, Any] = {"prediction": pa.array(_column(predictions))}
    for name, values in inputs.items():
        cols[f"input.{name}"] = pa.array(_column(values))
    for name, values in attributions.items():
        cols[f"attribution.{name}"] = pa.array([float(v) for v in _column(values)], type=pa.float64())
    optional: tuple[tuple[str, Sequence[Any] | None], ...] = (
        ("row_id", row_ids),
        ("label", labels),
        ("base_value", base_values),
    )
    for key, extra in optional:
        if extra is not None:
            cols[key] = pa.array(_column(extra))
    bad = [k for k, c in cols.items() if len(c) != n]
    if bad:
        raise ValueError(f"columns {bad[:5]} do not have {n} values")
    pq.write_table(pa.table(cols), os.fspath(path))
    return n
