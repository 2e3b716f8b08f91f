"""MLflow dataset inputs (``runs/log-inputs``, what ``mlflow.log_input`` calls) over Tether's datasets.

An MLflow dataset (name, digest, source type, source, schema, profile) becomes a version of the
Tether dataset of that name, linked to the run as a run input, so it shows in Tether's lineage and
dataset views. Tether versions are keyed by content: the version's manifest is one entry,
``mlflow/<source type>/<digest>`` (size 0, sha256 over the MLflow identity), so logging the same
MLflow dataset again reuses its version. Schema and profile are kept (JSON objects); the context tag
``mlflow.data.context`` maps onto Tether's contexts (training, validation, evaluation).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from ... import context
from ...access import access
from ...errors import InvalidArgument
from ...models import DatasetVersion
from ...models.artifacts import CONTEXT_ALIASES
from ...services.artifacts import datasets as datasets_svc
from ...services.tracking import runs as runs_svc
from ...services.tracking.search_filter import MLFLOW_DATASET_PREFIX
from . import convert as cv
from . import logged_models

CONTEXT_TAG = "mlflow.data.context"
#: MLflow's free-form context names → Tether's three contexts (no tag: training).
CONTEXTS = CONTEXT_ALIASES
MAX_DATASETS = 100
_PREFIX = MLFLOW_DATASET_PREFIX


def tether_context(raw: Any) -> str:
    ctx = CONTEXTS.get(str(raw or "").strip().lower())
    if ctx is None:
        raise InvalidArgument(
            f"Dataset context {str(raw)[:40]!r} is not one of Tether's contexts: use training, validation "
            "or evaluation (train, val, eval and test are mapped)",
            {"field": "datasets"},
        )
    return ctx


def _json_object(raw: Any, field: str) -> dict[str, Any] | None:
    """MLflow sends schema and profile as JSON strings; Tether keeps JSON objects."""
    if raw in (None, ""):
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidArgument(f"Dataset {field} must be a JSON object", {"field": f"dataset.{field}"})
    return value


def _manifest(digest: str, source_type: str, source: str) -> list[dict[str, Any]]:
    identity = json.dumps([digest, source_type, source], separators=(",", ":")).encode()
    path = f"{_PREFIX}{source_type or 'unknown'}/{digest}"
    return [{"path": path, "sha256": hashlib.sha256(identity).hexdigest(), "size": 0}]


@access("writer")
def log_inputs() -> Any:
    body = cv.args()
    session, actor = context.db(), context.principal()
    run_id = cv.run_id_of(body)
    items = body.get("datasets") or []
    models = body.get("models") or []
    if not isinstance(items, list) or len(items) > MAX_DATASETS:
        raise InvalidArgument(f"'datasets' must be a list of at most {MAX_DATASETS}", {"field": "datasets"})
    if not isinstance(models, list):
        raise InvalidArgument("'models' must be a list", {"field": "models"})
    for m in models:  # model inputs: checked (readable, issued here), not stored
        if not isinstance(m, dict):
            raise InvalidArgument("'models' must be a list of {model_id} objects", {"field": "models"})
        logged_models.load(session, actor, m.get("model_id"))
    if not items:
        runs_svc.get_run(session, actor, run_id, "EDIT")
    for item in items:
        ds = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(ds, dict):
            raise InvalidArgument("Each dataset input needs a 'dataset' object", {"field": "datasets"})
        name, digest = cv.text(ds, "name"), cv.text(ds, "digest")
        source_type = cv.text(ds, "source_type", required=False) or ""
        source = ds.get("source") or ""
        if not isinstance(source, str) or len(source) > 1000:
            raise InvalidArgument(
                "Dataset source must be a string of at most 1000 characters", {"field": "source"}
            )
        tags = cv.key_values(item.get("tags"), "tags")
        datasets_svc.log_dataset(
            session,
            actor,
            run_id,
            name=name,
            context=tether_context(tags.get(CONTEXT_TAG)),
            manifest=_manifest(digest, source_type, source),
            schema=_json_object(ds.get("schema"), "schema"),
            profile=_json_object(ds.get("profile"), "profile"),
            source=source,
        )
    return jsonify({})


def dataset_input(ctx: str, name: str, version: DatasetVersion) -> dict[str, Any]:
    """A run input in MLflow's ``DatasetInput`` JSON; a dataset logged with Tether's SDK shows its
    root hash as the digest and ``tether`` as the source type."""
    first = (version.manifest or [{}])[0].get("path", "")
    if len(version.manifest or []) == 1 and first.startswith(_PREFIX) and first.count("/") >= 2:
        _mlflow, source_type, digest = first.split("/", 2)
    else:
        source_type, digest = "tether", version.root_hash
    ds: dict[str, Any] = {
        "name": name,
        "digest": digest,
        "source_type": source_type,
        "source": version.source,
    }
    if version.schema is not None:
        ds["schema"] = json.dumps(version.schema)
    if version.profile is not None:
        ds["profile"] = json.dumps(version.profile)
    return {"tags": [{"key": CONTEXT_TAG, "value": ctx}], "dataset": ds}


def run_inputs(session: Session, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """MLflow's ``RunInputs`` for runs the caller already read, in one query."""
    found = datasets_svc.inputs_of_runs(session, run_ids)
    return {
        rid: {"dataset_inputs": [dataset_input(*row) for row in rows]} if rows else {}
        for rid, rows in found.items()
    }
