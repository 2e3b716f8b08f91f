"""MLflow tracking routes (``/api/2.0/mlflow/experiments/*``, ``runs/*``, ``metrics/get-history``) over
``services.tracking``. Each view translates the request, calls one service, translates the answer."""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from ... import context
from ...access import Principal, access
from ...errors import InvalidArgument, NotFound
from ...models import Experiment
from ...services.tracking import experiments as experiments_svc
from ...services.tracking import metrics as metrics_svc
from ...services.tracking import runs as runs_svc
from ...services.tracking import search as search_svc
from ...services.tracking import search_parser
from . import convert as cv
from . import inputs, logged_models

#: MLflow's own limits for ``runs/log-batch``.
BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}
BATCH_MAX_ENTITIES = 1000
#: MLflow's id of the default experiment; here it names the experiment called "Default".
DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME = "0", "Default"
_NAME_FILTER = re.compile(
    r"""^\s*(?:attributes\.|attribute\.)?name\s*(=|LIKE|ILIKE)\s*(['"])(.*)\2\s*$""", re.I
)
_HISTORY_MAX = 25_000
_LITERAL = re.compile(r"""('(?:[^'\\]|\\.)*')""")
_NOT_AFTER = r"""(?<![\w.`"])"""
#: MLflow's search spellings that Tether's filter language names otherwise, rewritten outside string
#: literals: the ``mlflow.runName`` tag is the run's name attribute in Tether, ``parameter(s).`` is
#: ``params.``, ``run.`` is ``attributes.`` and ``created`` is ``start_time``.
_REWRITES = [
    (
        re.compile(
            _NOT_AFTER + r"""tags?\.(?:`mlflow\.runName`|"mlflow\.runName"|mlflow\.runName)(?![\w.])"""
        ),
        "attributes.run_name",
    ),
    (re.compile(_NOT_AFTER + r"parameters?\."), "params."),
    (re.compile(_NOT_AFTER + r"(?:run|attr|attributes?)\.[Cc]reated\b"), "attributes.start_time"),
    (re.compile(_NOT_AFTER + r"run\.(?=[\w`\"])"), "attributes."),
]


def mlflow_search_terms(text: str) -> str:
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):  # even parts are outside string literals
        for pattern, replacement in _REWRITES:
            parts[i] = pattern.sub(replacement, parts[i])
    return "".join(parts)


def _ok(body: dict[str, Any] | None = None) -> Any:
    return jsonify(body or {})


def _experiment_by_name(session: Session, actor: Principal, name: str) -> Experiment:
    items, _ = experiments_svc.list_experiments(session, actor, name=name, lifecycle="all", max_results=1)
    if not items:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return items[0]


def experiment_id_of(session: Session, actor: Principal, raw: Any, *, create: bool = False) -> int:
    """A Tether experiment id from MLflow's string id; ``"0"`` (MLflow's default experiment) is the
    experiment named "Default", created on first write."""
    if str(raw) == DEFAULT_EXPERIMENT_ID:
        try:
            return _experiment_by_name(session, actor, DEFAULT_EXPERIMENT_NAME).id
        except NotFound:
            if not create:
                raise
            return experiments_svc.create_experiment(session, actor, DEFAULT_EXPERIMENT_NAME).id
    try:
        value = int(str(raw))
    except ValueError:
        raise NotFound(f"Could not find experiment with ID {str(raw)[:40]}") from None
    if not 0 < value < 2**31:
        raise NotFound(f"Could not find experiment with ID {value}")
    return value


# ---------------------------------------------------------------- experiments


@access("viewer")
def experiment_by_name() -> Any:
    name = cv.text(cv.args(), "experiment_name")
    return _ok({"experiment": cv.experiment(_experiment_by_name(context.db(), context.principal(), name))})


@access("viewer")
def experiment_get() -> Any:
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, cv.text(cv.args(), "experiment_id"))
    return _ok({"experiment": cv.experiment(experiments_svc.get_experiment(session, actor, eid))})


@access("writer")
def experiment_create() -> Any:
    body = cv.args()
    name = cv.text(body, "name")
    tags = cv.key_values(body.get("tags"), "tags")
    exp = experiments_svc.create_experiment(context.db(), context.principal(), name, tags=tags)
    return _ok({"experiment_id": str(exp.id)})


@access("viewer")
def experiment_search() -> Any:
    body = cv.args()
    lifecycle = cv.VIEW_TYPES.get(body.get("view_type"))
    if lifecycle is None:
        raise InvalidArgument("view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL", {"field": "view_type"})
    max_results = min(cv.integer(body, "max_results", 1000) or 1000, 1000)
    name, pattern = _name_filter(body.get("filter"))
    items, nxt = experiments_svc.list_experiments(
        context.read_db(),
        context.principal(),
        name=name,
        lifecycle=lifecycle,
        max_results=max_results,
        page_token=body.get("page_token") or None,
        name_pattern=pattern,
    )
    out: dict[str, Any] = {"experiments": [cv.experiment(e) for e in items]}
    if nxt:
        out["next_page_token"] = nxt
    return _ok(out)


def _name_filter(raw: Any) -> tuple[str | None, tuple[str, str] | None]:
    """The experiment-search filter subset: ``name = '...'`` or ``name [I]LIKE '...'`` (as
    ``(op, pattern)``, matched in the query)."""
    if not raw:
        return None, None
    m = _NAME_FILTER.match(str(raw))
    if m is None:
        raise InvalidArgument(
            "Experiment search supports the filters name = '...' and name [I]LIKE '...'", {"field": "filter"}
        )
    op, value = m.group(1).upper(), m.group(3)
    if op == "=":
        return value, None
    if search_parser.ends_in_escape(value):
        raise InvalidArgument("A LIKE pattern cannot end with an unescaped backslash", {"field": "filter"})
    return None, (op, value)


@access("writer")
def experiment_delete() -> Any:
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, cv.text(cv.args(), "experiment_id"))
    experiments_svc.delete_experiment(session, actor, eid)
    return _ok()


@access("writer")
def experiment_restore() -> Any:
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, cv.text(cv.args(), "experiment_id"))
    experiments_svc.update_experiment(session, actor, eid, lifecycle="active")
    return _ok()


@access("writer")
def experiment_update() -> Any:
    """Rename (MLflow's only experiment update)."""
    body = cv.args()
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, cv.text(body, "experiment_id"))
    experiments_svc.update_experiment(session, actor, eid, name=cv.text(body, "new_name"))
    return _ok()


@access("writer")
def experiment_set_tag() -> Any:
    body = cv.args()
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, cv.text(body, "experiment_id"))
    key = cv.text(body, "key")
    experiments_svc.update_experiment(session, actor, eid, tags={key: body.get("value", "")})
    return _ok()


# ---------------------------------------------------------------- runs


def _refuse_server_tags(keys: Any, field: str) -> None:
    """Clients may not write the server's own logged-model records (``mlflow.loggedModel.*``, the
    carrier run's tag): set-tag could otherwise overwrite the tag that maps a folder to a model."""
    for key in keys:
        if key.startswith(logged_models.MARK) or key == logged_models.CARRIER_TAG:
            raise InvalidArgument(
                f"{key} records a logged model of the run (the server's own tag): clients cannot set or "
                "delete it",
                {"field": field},
            )


@access("writer")
def run_create() -> Any:
    body = cv.args()
    session, actor = context.db(), context.principal()
    eid = experiment_id_of(session, actor, body.get("experiment_id") or DEFAULT_EXPERIMENT_ID, create=True)
    tags = cv.key_values(body.get("tags"), "tags")
    _refuse_server_tags(tags, "tags")
    name = body.get("run_name") or tags.get(cv.RUN_NAME_TAG) or None
    run, details = runs_svc.create_run(
        session,
        actor,
        eid,
        name=name,
        tags=tags,
        parent_run_id=tags.get(cv.PARENT_TAG) or None,
        start_time=cv.integer(body, "start_time"),
    )
    return _ok({"run": cv.run(run, details)})


@access("viewer")
def run_get() -> Any:
    session = context.db()
    run = runs_svc.get_run(session, context.principal(), cv.run_id_of(cv.args()))
    details = runs_svc.run_details(session, [run])[run.id]
    return _ok({"run": cv.run(run, details, inputs.run_inputs(session, [run.id])[run.id])})


@access("writer")
def run_update() -> Any:
    body = cv.args()
    session = context.db()
    run = runs_svc.update_run(
        session,
        context.principal(),
        cv.run_id_of(body),
        status=body.get("status") or None,
        end_time=cv.integer(body, "end_time"),
        name=body.get("run_name") or None,
    )
    tags = runs_svc.run_details(session, [run])[run.id]["tags"]
    return _ok({"run_info": cv.run_info(run, tags)})


@access("writer")
def run_delete() -> Any:
    runs_svc.delete_run(context.db(), context.principal(), cv.run_id_of(cv.args()))
    return _ok()


@access("writer")
def run_restore() -> Any:
    runs_svc.restore_run(context.db(), context.principal(), cv.run_id_of(cv.args()))
    return _ok()


@access("writer")
def run_log_param() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    runs_svc.log_batch(
        context.db(), context.principal(), cv.run_id_of(body), params={key: body.get("value", "")}
    )
    return _ok()


@access("writer")
def run_set_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    session, actor, run_id = context.db(), context.principal(), cv.run_id_of(body)
    if key == cv.RUN_NAME_TAG:  # MLflow renames the run through this tag
        runs_svc.update_run(session, actor, run_id, name=str(body.get("value", "")))
    else:
        _refuse_server_tags([key], "key")
        runs_svc.log_batch(session, actor, run_id, tags={key: body.get("value", "")})
    return _ok()


@access("writer")
def run_delete_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    if key in (cv.RUN_NAME_TAG, cv.PARENT_TAG):
        raise InvalidArgument(
            f"Tether keeps {key} as an attribute of the run, not as a tag: it cannot be deleted",
            {"field": "key"},
        )
    _refuse_server_tags([key], "key")
    runs_svc.delete_tag(context.db(), context.principal(), cv.run_id_of(body), key)
    return _ok()


@access("writer")
def run_log_metric() -> Any:
    body = cv.args()
    point = {
        "key": body.get("key"),
        "value": body.get("value"),
        "step": cv.integer(body, "step", 0),
        "timestamp": cv.integer(body, "timestamp"),
    }
    run_id, rows = cv.run_id_of(body), runs_svc.parse_metrics([point], 1)
    with context.statement() as unit:  # PostgreSQL: one statement in autocommit; no ORM session
        wrote = runs_svc.log_points(unit, context.principal(), run_id, rows)
    if wrote is None:
        runs_svc.points_refused(context.db(), context.principal(), run_id, rows)
    context.runtime().metrics.ingested(1)
    return _ok()


@access("writer")
def run_log_batch() -> Any:
    body = cv.args()
    counts = {}
    for field, limit in BATCH_LIMITS.items():
        items = body.get(field) or []
        if not isinstance(items, list):
            raise InvalidArgument(f"'{field}' must be a list", {"field": field})
        if len(items) > limit:
            raise InvalidArgument(
                f"A batch logging request can contain at most {limit} {field}. Got {len(items)} {field}.",
                {"field": field, "max": limit},
            )
        counts[field] = len(items)
    if sum(counts.values()) > BATCH_MAX_ENTITIES:
        raise InvalidArgument(f"A batch logging request can contain at most {BATCH_MAX_ENTITIES} entities")
    metrics = [
        {
            "key": m.get("key"),
            "value": m.get("value"),
            "step": cv.integer(m, "step", 0),
            "timestamp": cv.integer(m, "timestamp"),
        }
        for m in body.get("metrics") or []
        if isinstance(m, dict)
    ]
    if len(metrics) != counts["metrics"]:
        raise InvalidArgument("'metrics' must be a list of objects", {"field": "metrics"})
    session, actor = context.db(), context.principal()
    run_id = cv.run_id_of(body)
    # A flavor's log_model sends copies of the run's own points tagged with the new model's id
    # (MLflow's per-model metrics). Tether keeps no per-model metrics and the points are already in
    # the run, so the copies are checked (a model of this run) and not written again.
    linked = {m.get("model_id") for m in body.get("metrics") or [] if m.get("model_id")}
    if linked:
        for mid in linked:
            if logged_models.parse_id(mid)[0] != run_id:
                raise InvalidArgument(
                    "A metric's model_id must name a model logged in the run", {"field": "metrics"}
                )
        metrics = [
            m for m, raw in zip(metrics, body.get("metrics") or [], strict=True) if not raw.get("model_id")
        ]
        if not metrics and not body.get("params") and not body.get("tags"):
            runs_svc.get_run(session, actor, run_id, "EDIT")
            return _ok()
    tags = cv.key_values(body.get("tags"), "tags")
    _refuse_server_tags(tags, "tags")
    name = tags.pop(cv.RUN_NAME_TAG, None)
    runs_svc.log_batch(
        session, actor, run_id, params=cv.key_values(body.get("params"), "params"), metrics=metrics, tags=tags
    )
    if name is not None:
        runs_svc.update_run(session, actor, run_id, name=str(name))
    context.runtime().metrics.ingested(len(metrics), batches=1)
    return _ok()


@access("viewer")
def run_search() -> Any:
    body = cv.args()
    session, actor = context.read_db(), context.principal()
    lifecycle = cv.VIEW_TYPES.get(body.get("run_view_type"))
    if lifecycle is None:
        raise InvalidArgument(
            "run_view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL", {"field": "run_view_type"}
        )
    raw_ids = body.get("experiment_ids") or []
    if not isinstance(raw_ids, list):
        raise InvalidArgument("experiment_ids must be a list", {"field": "experiment_ids"})
    ids = []
    for raw in raw_ids:
        try:
            ids.append(experiment_id_of(session, actor, raw))
        except NotFound:
            ids.append(-1)  # matches nothing, like an experiment MLflow does not have
    cap = context.settings().max_search_results
    # Pages are capped at TETHER_MAX_SEARCH_RESULTS; the client follows next_page_token for the rest.
    max_results = max(1, min(cv.integer(body, "max_results", 1000) or 1000, cap))
    order_by = body.get("order_by") or ["start_time DESC"]
    order_by = order_by if isinstance(order_by, list) else [order_by]
    raw_filter = body.get("filter") or None
    runs, nxt = search_svc.search_runs(
        session,
        actor,
        experiment_ids=ids or None,
        filter=mlflow_search_terms(raw_filter) if isinstance(raw_filter, str) else raw_filter,
        order_by=[mlflow_search_terms(o) if isinstance(o, str) else o for o in order_by],
        max_results=max_results,
        page_token=body.get("page_token") or None,
        lifecycle=lifecycle,
        max_cap=cap,
    )
    details = runs_svc.run_details(session, runs)
    used = inputs.run_inputs(session, [r.id for r in runs])
    out: dict[str, Any] = {"runs": [cv.run(r, details[r.id], used[r.id]) for r in runs]}
    if nxt:
        out["next_page_token"] = nxt
    return _ok(out)


@access("viewer")
def metric_history() -> Any:
    body = cv.args()
    key = cv.text(body, "metric_key")
    max_results = cv.integer(body, "max_results", _HISTORY_MAX) or _HISTORY_MAX
    result = metrics_svc.history(
        context.db(),
        context.principal(),
        cv.run_id_of(body),
        key,
        page_token=body.get("page_token") or None,
        max_results=max(1, min(max_results, _HISTORY_MAX)),
    )
    if not result["items"]:
        return _ok()  # MLflow answers {} for a key without points
    out: dict[str, Any] = {
        "metrics": [
            {"key": key, "value": cv.number(v), "timestamp": ts, "step": step}
            for step, v, ts in result["items"]
        ]
    }
    if result["next_page_token"]:
        out["next_page_token"] = result["next_page_token"]
    return _ok(out)
