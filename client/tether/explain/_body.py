"""Building an explanation body for the API (no third-party imports)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

Importances = Mapping[str, float] | Iterable[tuple[str, float]]


def _pairs(importances: Importances) -> list[dict[str, Any]]:
    """Always the list form on the wire: a repeated feature reaches the server and is refused there,
    instead of one value silently replacing the other in a dict."""
    items = importances.items() if isinstance(importances, Mapping) else importances
    out = []
    for name, value in items:
        v = float(value)  # numpy scalars, ints
        if not math.isfinite(v):
            raise ValueError(f"importance of {name!r} is not a finite number: {value!r}")
        out.append({"feature": str(name), "importance": v})
    return out


def _dataset(dataset: Any) -> Any:
    if dataset is None or isinstance(dataset, int):
        return dataset
    if isinstance(dataset, tuple) and len(dataset) == 2:  # (name, hash)
        return {"name": dataset[0], "hash": dataset[1]}
    if isinstance(dataset, Mapping):
        ref = {
            "dataset_version_id": dataset.get("dataset_version_id"),
            "name": dataset.get("name"),
            "hash": dataset.get("hash") or dataset.get("root_hash"),
        }
        return {k: v for k, v in ref.items() if v is not None}
    raise TypeError("dataset is a dataset version id, a (name, hash) pair or a mapping with name and hash")


def explanation_body(
    importances: Importances,
    method: str,
    dataset: Any = None,
    per_class: Mapping[str, Importances] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"importances": _pairs(importances), "method": method}
    if dataset is not None:
        body["dataset"] = _dataset(dataset)
    if per_class is not None:
        body["per_class"] = {str(c): _pairs(v) for c, v in per_class.items()}
    return body
