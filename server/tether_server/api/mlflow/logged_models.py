"""MLflow 3 logged models (what a flavor's ``log_model`` creates) over Tether's run artifacts.

A logged model is the folder ``<name>/`` in its source run's artifacts, where MLflow 2 kept it and
where Tether's UI, lineage and registration already look. Its id names that folder:
``m-<run id><name as hex>``; the run tag ``mlflow.loggedModel.<name>`` (value: the id) records that
the folder is a logged model, so a folder uploaded with ``log_artifacts`` stays a plain folder. Its
``artifact_uri`` ``mlflow-artifacts:/<experiment>/models/<model id>/artifacts`` is served by the
artifact routes, which map it onto the run's folder; the run's own MLflow listing leaves the folder
out, as MLflow's server keeps a logged model outside its run (the client lists and downloads
``runs:/<run>/<name>`` through the logged model, so it sees each file once).

As on MLflow's server, the source run may have finished (like other artifacts, a model can be added
to a finished run; the run must not be deleted), and a model may be logged outside any run: it then
gets a run of its own in the experiment (named after the model, tagged ``CARRIER_TAG``, FINISHED at
once), which holds its folder. It is READY once its ``MLmodel`` file is stored. Model params and
tags sent with it are not stored.
"""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from ... import context
from ...access import Principal, access
from ...errors import InvalidArgument, NotFound
from ...models import Run
from ...services.artifacts import files as files_svc
from ...services.tracking import runs as runs_svc
from . import convert as cv

_ID = re.compile(r"^m-([0-9a-f]{32})((?:[0-9a-f]{2}){1,250})$")
READY, PENDING = "LOGGED_MODEL_READY", "LOGGED_MODEL_PENDING"
#: Run tag prefix marking a run folder as a logged model (``<prefix><name>`` = model id).
MARK = "mlflow.loggedModel."
#: Tag of a run created to hold a model logged outside any run.
CARRIER_TAG = "tether.loggedModelRun"
_NAME_FILTER = re.compile(r"""^\s*(?:attributes\.)?name\s*=\s*(['"])(.*)\1\s*$""", re.S)


def model_id(run_id: str, name: str) -> str:
    return f"m-{run_id}{name.encode().hex()}"


def parse_id(raw: Any) -> tuple[str, str]:
    """(source run id, folder name) of a logged model id; NotFound for an id Tether did not issue."""
    m = _ID.match(raw) if isinstance(raw, str) else None
    if m is None:
        raise NotFound(f"Logged model {str(raw)[:80]!r} not found")
    try:
        name = bytes.fromhex(m.group(2)).decode()
    except UnicodeDecodeError:
        raise NotFound(f"Logged model {raw[:80]!r} not found") from None
    return m.group(1), name


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise InvalidArgument("A logged model's name is one artifact path segment", {"field": "name"})
    return files_svc.check_path(name)


def logged_names(tags: dict[str, str]) -> set[str]:
    """The folders of a run that are logged models, from its tags."""
    return {k[len(MARK) :] for k in tags if k.startswith(MARK)}


def describe(session: Session, run: Run, name: str) -> dict[str, Any]:
    mid = model_id(run.id, name)
    mlmodel = files_svc.find(session, run.id, f"{name}/MLmodel")
    stamp = mlmodel.created_at if mlmodel is not None else run.start_time
    info = {
        "model_id": mid,
        "experiment_id": str(run.experiment_id),
        "name": name,
        "source_run_id": run.id,
        "artifact_uri": f"mlflow-artifacts:/{run.experiment_id}/models/{mid}/artifacts",
        "status": READY if mlmodel is not None else PENDING,
        "creation_timestamp_ms": stamp,
        "last_updated_timestamp_ms": stamp,
        "tags": [],
    }
    return {"info": info, "data": {"params": [], "metrics": []}}


def load(session: Session, actor: Principal, raw_id: Any) -> tuple[Run, str]:
    run_id, name = parse_id(raw_id)
    return runs_svc.get_run(session, actor, run_id), name


@access("writer")
def create() -> Any:
    from .tracking import experiment_id_of

    body = cv.args()
    session, actor = context.db(), context.principal()
    name = _check_name(body.get("name") or "model")
    run_id = body.get("source_run_id")
    if run_id:
        run = runs_svc.get_run(session, actor, str(run_id), "EDIT")
        if str(run.experiment_id) != str(body.get("experiment_id") or run.experiment_id):
            raise InvalidArgument("The source run is in another experiment", {"field": "experiment_id"})
    else:  # logged outside a run: a finished run of its own holds the model's folder
        eid = experiment_id_of(session, actor, cv.text(body, "experiment_id"), create=True)
        carrier, _details = runs_svc.create_run(session, actor, eid, name=name, tags={CARRIER_TAG: "true"})
        run = runs_svc.update_run(session, actor, carrier.id, status="FINISHED")
    run = runs_svc.set_system_tags(session, actor, run.id, {MARK + name: model_id(run.id, name)})
    return jsonify({"model": describe(session, run, name)})


@access("viewer")
def get(model_id: str) -> Any:
    session = context.db()
    run, name = load(session, context.principal(), model_id)
    return jsonify({"model": describe(session, run, name)})


@access("writer")
def finalize(model_id: str) -> Any:
    """The client reports the upload's outcome; READY is what the stored files say."""
    session = context.db()
    run, name = load(session, context.principal(), model_id)
    return jsonify({"model": describe(session, run, name)})


@access("writer")
def set_tags(model_id: str) -> Any:
    """Accepted (EDIT on the run checked) and not stored: see the README's MLflow differences."""
    load(context.db(), context.principal(), model_id)
    cv.args()
    return jsonify({})


@access("viewer")
def search() -> Any:
    """The logged models of the runs the caller reads in the given experiments, newest runs first;
    the filter subset is ``name = '...'``."""
    from .tracking import experiment_id_of

    body = cv.args()
    session, actor = context.read_db(), context.principal()
    ids = [experiment_id_of(session, actor, e) for e in body.get("experiment_ids") or []]
    if not ids:
        raise InvalidArgument("experiment_ids is required", {"field": "experiment_ids"})
    wanted = None
    if body.get("filter"):
        m = _NAME_FILTER.match(str(body["filter"]))
        if m is None:
            raise InvalidArgument("Logged-model search supports the filter name = '...'", {"field": "filter"})
        wanted = m.group(2)
    limit = max(1, min(cv.integer(body, "max_results", 100) or 100, 1000))
    prefix = MARK + (wanted if wanted is not None else "")
    out: list[dict[str, Any]] = []
    for run, key, _value in runs_svc.tagged_runs(session, actor, ids, prefix, limit):
        name = key[len(MARK) :]
        if wanted is None or name == wanted:
            out.append(describe(session, run, name))
    return jsonify({"models": out})


@access("writer")
def log_outputs() -> Any:
    """A run's model outputs: the link is the model folder in the run itself; checked, not stored."""
    body = cv.args()
    session, actor = context.db(), context.principal()
    run = runs_svc.get_run(session, actor, cv.run_id_of(body), "EDIT")
    for output in body.get("models") or []:
        if not isinstance(output, dict) or parse_id(output.get("model_id"))[0] != run.id:
            raise InvalidArgument(
                "A run's model outputs must be models logged in that run", {"field": "models"}
            )
    return jsonify({})


@access("writer")
def log_model_history() -> Any:
    """MLflow's per-run model history (``mlflow.log-model.history``): the model folder in the run's
    artifacts is the record here; the run must accept data, nothing more is stored."""
    body = cv.args()
    runs_svc.writable_run(context.db(), context.principal(), cv.run_id_of(body), lock=False)
    return jsonify({})
