"""MLflow model-registry routes (``registered-models/*``, ``model-versions/*``) over
``services.registry``: the same rows, grants, audit events and stage governance as ``/api/v1/models``.

Differences from MLflow's server, kept for Tether's governance and data safety (README, "MLflow
compatibility"): a version's files are COPIED from the run's artifacts when it is registered (so its
``source`` must be a run artifact URI, and its download URI serves the registry's copy);
``transition-stage`` to a stage whose policy needs approvals opens a transition request and answers
PERMISSION_DENIED naming it; version tags live in the version's metadata (``extra.mlflow_tags``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import jsonify
from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from ... import context
from ...access import access
from ...errors import InvalidArgument
from ...models.registry import ModelVersion, RegisteredModel
from ...services.registry import catalog as svc
from ...services.registry import deploy, versions
from ...services.tracking.search_filter import compare
from ...services.tracking.search_parser import ends_in_escape
from ...services.validation import check_key
from . import convert as cv

_SEARCH_TERM = re.compile(
    r"""^\s*(?:(attributes?|tags?)\.)?(`[^`]+`|"[^"]+"|[\w.]+)\s*(=|!=|LIKE|ILIKE)\s*(['"])(.*?)\4\s*$""",
    re.I | re.S,
)
_MAX_SEARCH = 1000


def kw() -> dict[str, Any]:
    return {"request_id": context.request_id()}


def name_of(body: dict[str, Any]) -> str:
    name = cv.text(body, "name")
    return name


def version_number(body: dict[str, Any]) -> int:
    number = cv.integer(body, "version")
    if number is None or not 0 < number < 2**31:
        raise InvalidArgument("Parameter 'version' must be a positive integer", {"field": "version"})
    return number


# ---------------------------------------------------------------- JSON


def model_version(
    session: Session, name: str, mv: ModelVersion, aliases: list[str] | None = None
) -> dict[str, Any]:
    if aliases is None:
        aliases = svc.aliases_of(session, [mv.id])[mv.id]
    tags = versions.version_tags(mv)
    out: dict[str, Any] = {
        "name": name,
        "version": str(mv.version),
        "creation_timestamp": mv.created_at,
        "last_updated_timestamp": mv.updated_at,
        "current_stage": mv.stage,
        "description": mv.description,
        "source": f"runs:/{mv.run_id}/{mv.artifact_path}" if mv.run_id else "",
        "status": "READY",
        "tags": cv.pairs(tags),
        "aliases": aliases,
    }
    if mv.run_id:
        out["run_id"] = mv.run_id
    return out


def registered_model(session: Session, model: RegisteredModel) -> dict[str, Any]:
    summary = svc.model_summaries(session, [model])[0]
    latest = [model_version(session, model.name, mv) for mv in versions.latest_per_stage(session, model.id)]
    return {
        "name": model.name,
        "creation_timestamp": model.created_at,
        "last_updated_timestamp": model.updated_at,
        "description": model.description,
        "tags": cv.pairs(model.tags or {}),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(summary["aliases"].items())],
        "latest_versions": latest,
    }


# ---------------------------------------------------------------- registered models


@access("writer")
def model_create() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.create_model(
        session,
        context.principal(),
        name_of(body),
        description=body.get("description") or "",
        tags=cv.key_values(body.get("tags"), "tags"),
        **kw(),
    )
    return jsonify({"registered_model": registered_model(session, model)})


@access("viewer")
def model_get() -> Any:
    session = context.db()
    model = svc.get_model(session, context.principal(), name_of(cv.args()))
    return jsonify({"registered_model": registered_model(session, model)})


@access("writer")
def model_update() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.update_model(
        session, context.principal(), name_of(body), description=body.get("description"), **kw()
    )
    return jsonify({"registered_model": registered_model(session, model)})


@access("writer")
def model_delete() -> Any:
    svc.delete_model(context.db(), context.principal(), context.store(), name_of(cv.args()), **kw())
    return jsonify({})


@access("writer")
def model_set_tag() -> Any:
    body = cv.args()
    key = cv.text(body, "key")
    svc.update_model(
        context.db(), context.principal(), name_of(body), tags={key: body.get("value", "")}, **kw()
    )
    return jsonify({})


@access("viewer")
def model_search() -> Any:
    body = cv.args()
    session = context.db()
    found = search_filter(body.get("filter"), ("name",))
    rows, nxt = svc.list_models(
        session,
        context.principal(),
        max_results=max(1, min(cv.integer(body, "max_results", 100) or 100, _MAX_SEARCH)),
        page_token=body.get("page_token") or None,
        where=found.where({"name": RegisteredModel.name}, lambda key: RegisteredModel.tags[key]),
        where_key=found.scope,
    )
    out: dict[str, Any] = {"registered_models": [registered_model(session, m) for m in rows]}
    if nxt:
        out["next_page_token"] = nxt
    return jsonify(out)


@dataclass(frozen=True)
class Term:
    """One ``field op 'value'`` term; ``key`` names the tag of a ``tags.<key>`` term."""

    field: str
    key: str | None
    op: str
    value: str

    def clause(self, col: Any) -> ColumnElement[bool]:
        if self.op == "=":
            return col == self.value  # type: ignore[no-any-return]
        if self.op == "!=":  # a missing tag differs (MLflow's prompt filter relies on it)
            return or_(col.is_(None), col != self.value)
        return and_(col.is_not(None), compare(col, self.op, self.value))


@dataclass(frozen=True)
class SearchFilter:
    """The registry-search filter subset: ``<field> <op> '...'`` terms joined by AND, where a field is
    one of the search's attributes or ``tags.<key>`` (``tag.``, backquoted keys), and op is ``=``,
    ``!=``, ``LIKE`` or ``ILIKE``."""

    terms: tuple[Term, ...] = ()

    @property
    def scope(self) -> str:
        """The terms, for a page token's scope (a token only continues the search it came from)."""
        return repr(self.terms)

    def where(self, columns: dict[str, Any], tag: Callable[[str], Any]) -> list[ColumnElement[bool]]:
        """The terms as SQL conditions, matched in the query before paging: ``columns`` maps the
        search's attributes to columns, ``tag(key)`` is the JSON value holding tag ``key``."""
        return [
            t.clause(tag(t.key or "").as_string() if t.field == "tag" else columns[t.field])
            for t in self.terms
        ]


def search_filter(raw: Any, fields: tuple[str, ...]) -> SearchFilter:
    if not raw:
        return SearchFilter()
    terms = []
    for term in re.split(r"\s+AND\s+", str(raw), flags=re.I):
        m = _SEARCH_TERM.match(term)
        field = (m.group(1) or "").lower() if m else ""
        name = m.group(2).strip('`"') if m else ""
        if (
            m is None
            or (field.startswith("tag") and not name)
            or (not field.startswith("tag") and name not in fields)
        ):
            raise InvalidArgument(
                f"Supported filters: {', '.join(fields)} and tags.<key> with =, !=, LIKE or ILIKE, joined by AND",
                {"field": "filter"},
            )
        op = m.group(3).upper()
        if field.startswith("tag"):
            check_key(name, "tag key")
        if op in ("LIKE", "ILIKE") and ends_in_escape(m.group(5)):
            raise InvalidArgument(
                "A LIKE pattern cannot end with an unescaped backslash", {"field": "filter"}
            )
        terms.append(
            Term(
                "tag" if field.startswith("tag") else name,
                name if field.startswith("tag") else None,
                op,
                m.group(5),
            )
        )
    return SearchFilter(tuple(terms))


@access("viewer")
def latest_versions() -> Any:
    body = cv.args()
    session = context.db()
    model = svc.get_model(session, context.principal(), name_of(body))
    stages = body.get("stages") or []
    if isinstance(stages, str):
        stages = [stages]
    wanted = {svc.canonical_stage(s) for s in stages}
    out = [
        v
        for v in registered_model(session, model)["latest_versions"]
        if not wanted or v["current_stage"] in wanted
    ]
    return jsonify({"model_versions": out})


# ---------------------------------------------------------------- aliases


@access("writer")
def alias_set() -> Any:
    body = cv.args()
    alias = cv.text(body, "alias")
    svc.set_alias(context.db(), context.principal(), name_of(body), alias, version_number(body), **kw())
    return jsonify({})


@access("writer")
def alias_delete() -> Any:
    body = cv.args()
    alias = cv.text(body, "alias")
    svc.delete_alias(context.db(), context.principal(), name_of(body), alias, **kw())
    return jsonify({})


@access("viewer")
def alias_get() -> Any:
    body = cv.args()
    session, actor, name = context.db(), context.principal(), name_of(body)
    alias = cv.text(body, "alias")
    _model_id, _vid, number, _etag = deploy.resolve(session, actor, name, alias=alias)
    _model, mv = svc.get_version(session, actor, name, number)
    return jsonify({"model_version": model_version(session, name, mv)})
