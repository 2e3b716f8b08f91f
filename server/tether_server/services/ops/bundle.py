"""Export and import bundles: move experiments and registered models between servers.

A bundle is a folder: ``manifest.json``, ``tables/<table>.jsonl`` (one JSON object per row, columns by
name) and ``objects/<sha256>`` (artifact and model files, once per content, checked on both sides).

This module holds what both directions share: the format's name and version, the tables in the
order import inserts them, the references import remaps (foreign keys, user columns and the
undeclared ones), the rows it reuses or refuses, and reading a table file of a bundle. Writing a
bundle is in ``bundle_export``, loading one in ``bundle_import``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from ...models import load_all

FORMAT = "tether-bundle"
VERSION = 1

TABLES = [
    "users",
    "experiments",
    "experiment_tags",
    "runs",
    "run_tags",
    "params",
    "metrics",
    "latest_metrics",
    "artifacts",
    "datasets",
    "dataset_versions",
    "run_inputs",
    "registered_models",
    "model_versions",
    "model_version_files",
    "model_version_inputs",
    "model_aliases",
    "registry_policies",
    "transition_requests",
    "transition_approvals",
    "explanations",
    "monitors",
    "audit_events",
]

#: References that are not declared as foreign keys: column -> table it names.
USER_REFS = {"created_by", "owner_id", "updated_by", "requested_by", "actor_id"}
EXTRA_REFS = {
    ("model_versions", "run_id"): "runs",
    ("model_version_inputs", "dataset_version_id"): "dataset_versions",
    ("transition_approvals", "user_id"): "users",
    ("monitors", "reference_dataset_version_id"): "dataset_versions",
}
#: Rows the target may already hold, matched by these columns (after remapping) and reused.
NATURAL_KEYS = {"users": ("name",), "datasets": ("name",), "dataset_versions": ("dataset_id", "root_hash")}
#: Rows whose name must be new on the target.
MUST_BE_NEW = {"experiments": "name", "registered_models": "name"}
CHUNK = 5000


def table(name: str) -> Table:
    return load_all().tables[name]  # monitor definitions live in a lazily loaded area's table


def refs_of(t: Table) -> dict[str, str]:
    """column -> referenced table, for every reference import must remap."""
    out = {fk.parent.name: fk.column.table.name for fk in t.foreign_keys}
    for c in t.columns:
        if c.name in USER_REFS:
            out[c.name] = "users"
    out.update({col: tgt for (tbl, col), tgt in EXTRA_REFS.items() if tbl == t.name})
    return out


#: Tables other rows point at: their new ids are recorded row by row; other tables go in bulk.
MAPPED = {
    "users",
    "experiments",
    "registered_models",
    "model_versions",
    "transition_requests",
    "datasets",
    "dataset_versions",
}


def _int_pk(t: Table) -> bool:
    pk = list(t.primary_key.columns)
    return len(pk) == 1 and pk[0].name == "id" and pk[0].type.python_type is int


def read_rows(bundle: Path, name: str) -> Iterator[dict[str, Any]]:
    path = bundle / "tables" / f"{name}.jsonl"
    if not path.exists():
        return
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
