"""The local-explanation sample of a model version: up to 1,000 concrete predictions, each with its
inputs, the prediction and the per-feature attributions, so a reviewer can look at cases.

Parquet layout (one flat table, one row per prediction; written by ``tether.explain.write_local_sample``):

==========================  ==========  ==============================================================
column                      required    meaning
==========================  ==========  ==============================================================
``prediction``              yes         the model's output (number or string)
``input.<feature>``         >= 1        the input value of ``<feature>`` (any type)
``attribution.<feature>``   >= 1        the attribution of ``<feature>`` to this prediction (number:
                                        INT32, INT64, FLOAT or DOUBLE), e.g. a SHAP value
``row_id``                  no          the caller's id of the row
``label``                   no          the true outcome, when known
``base_value``              no          the expected model output attributions are measured from
==========================  ==========  ==============================================================

At most 1,000 rows and 64 MiB. The server reads the footer only (row count, column names and
types: ``parquet_footer``), stores the file under ``registry/<model id>/explanations/`` and
records it on the version's explanation row; the rules of ``explanations`` apply (not replaceable
once the version is in Production).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import FailedPrecondition, InvalidArgument, NotFound
from ...models import now_ms
from ..artifacts.gc import REGISTRY_PREFIX
from ..events import after_commit, publish
from ..events import types as ev
from ..registry import catalog as reg
from . import records
from .explanations import writable_version_explanation
from .parquet_footer import read_footer

MAX_ROWS = 1_000
MAX_BYTES = 64 * 1024 * 1024
NUMERIC = {"INT32", "INT64", "FLOAT", "DOUBLE"}
OPTIONAL = {"row_id", "label", "base_value"}


def check_layout(data: bytes) -> int:
    """Row count of a valid sample; 400 naming what is wrong otherwise."""
    footer = read_footer(data)
    if not 1 <= footer.num_rows <= MAX_ROWS:
        raise InvalidArgument(
            f"The local explanation sample has {footer.num_rows} rows; 1 to {MAX_ROWS} are accepted",
            {"field": "rows", "rows": footer.num_rows, "limit": MAX_ROWS},
        )
    names = [c.name for c in footer.columns]
    nested = [c.name for c in footer.columns if c.physical is None]
    if nested:
        raise InvalidArgument(
            f"Nested columns are not part of the layout: {nested[:5]}", {"field": "columns"}
        )
    if "prediction" not in names:
        raise InvalidArgument("The sample needs a 'prediction' column", {"field": "prediction"})
    attrs = [c for c in footer.columns if c.name.startswith("attribution.")]
    inputs = [n for n in names if n.startswith("input.")]
    if not attrs or not inputs:
        raise InvalidArgument(
            "The sample needs 'input.<feature>' and 'attribution.<feature>' columns",
            {"field": "columns"},
        )
    bad = [c.name for c in attrs if c.physical not in NUMERIC]
    if bad:
        raise InvalidArgument(f"Attribution columns must be numeric: {bad[:5]}", {"field": bad[0]})
    unknown = [
        n
        for n in names
        if n not in OPTIONAL | {"prediction"} and not n.startswith(("input.", "attribution."))
    ]
    if unknown:
        raise InvalidArgument(f"Columns outside the layout: {unknown[:5]}", {"field": unknown[0]})
    return footer.num_rows


def set_local_sample(
    session: Session,
    actor: Principal,
    store: Any,
    name: str,
    version: int,
    data: bytes,
    request_id: str = "",
) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise InvalidArgument(f"The sample is larger than {MAX_BYTES} bytes", {"field": "body"})
    rows = check_layout(data)
    model, mv, row = writable_version_explanation(session, actor, name, version, "local_sample")
    if row is None:
        raise FailedPrecondition(
            f"Version {version} of {name!r} has no global explanation; set it before the local sample",
            {"model": name, "version": version},
        )
    key = f"{REGISTRY_PREFIX}/{model.id}/explanations/{uuid.uuid4().hex}.parquet"
    store.put_stream(key, io.BytesIO(data), len(data))
    old_key = row.local_key
    row.local_key, row.local_rows, row.local_size = key, rows, len(data)
    row.local_sha256 = hashlib.sha256(data).hexdigest()
    row.updated_at = mv.updated_at = now_ms()
    if old_key:
        after_commit(session, lambda: store.delete(old_key))
    publish(
        session,
        ev.ExplanationSet(
            actor=actor,
            request_id=request_id,
            model_id=model.id,
            model=model.name,
            version=version,
            stage=mv.stage,
            method=row.method,
            n_features=row.n_features,
            replaced=old_key is not None,
            part="local_sample",
        ),
    )
    return {**records.describe(row), "model": name, "version": version}


def get_local_sample(session: Session, actor: Principal, name: str, version: int) -> tuple[str, int, str]:
    """(storage key, size, sha256) of the version's sample; NotFound if there is none."""
    _model, mv = reg.get_version(session, actor, name, version)
    row = records.for_version(session, mv.id)
    if row is None or not row.local_key:
        raise NotFound(f"Version {version} of {name!r} has no local explanation sample")
    return row.local_key, int(row.local_size or 0), row.local_sha256 or ""
