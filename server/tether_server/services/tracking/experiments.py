"""Experiments: create, read, list (permission-filtered in SQL), update, soft delete/restore."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.orm import Session

from ...access import Principal
from ...errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from ...models import Experiment, ExperimentTag, now_ms
from .. import paging
from ..identity import permissions
from ..validation import check_key, check_tags
from . import search_filter

LIFECYCLES = ("active", "deleted")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("Experiment name must be a non-empty string", {"field": "name"})
    return check_key(name, "name")


def create_experiment(
    session: Session, actor: Principal, name: str, description: str = "", tags: dict[str, str] | None = None
) -> Experiment:
    if not actor.can_write:
        raise PermissionDenied("Creating experiments needs the writer role or higher")
    _check_name(name)
    tags = check_tags(tags)
    if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
        raise AlreadyExists(f"Experiment {name!r} already exists", {"name": name})
    exp = Experiment(
        name=name,
        description=description or "",
        created_by=actor.id,
        tags=[ExperimentTag(key=k, value=v) for k, v in tags.items()],
    )
    session.add(exp)
    session.flush()
    permissions.set_grant(session, actor, actor.id, "experiment", exp.id, "MANAGE", quiet=True)
    return exp


def get_experiment(session: Session, actor: Principal, experiment_id: int, level: str = "READ") -> Experiment:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        raise NotFound(f"Experiment {experiment_id} not found")
    permissions.require(session, actor, "experiment", exp.id, level, f"Experiment {experiment_id}")
    return exp


@functools.cache
def _access_stmt(with_grant: bool) -> Any:
    cols: list[Any] = [Experiment.lifecycle]
    if with_grant:
        cols.append(permissions.bound_grant_level("experiment", Experiment.id))
    return select(*cols).where(Experiment.id == bindparam("eid"))


def writable_clause(with_grant: bool) -> list[ColumnElement[bool]]:
    """The SQL twin of ``check_writable`` for the experiment bound as ``:eid`` (plus, ``with_grant``
    for a non-admin, ``:uid`` and ``:default_level``: ``grant_params``): put it in the WHERE of a
    write, and call ``check_writable`` for the error only when the write touched no row."""
    cond = [Experiment.id == bindparam("eid"), Experiment.lifecycle == "active"]
    if with_grant:
        cond.append(permissions.bound_level_at_least("experiment", Experiment.id, "EDIT"))
    return cond


def grant_params(actor: Principal) -> dict[str, Any]:
    return {} if actor.is_admin else {"uid": actor.id, "default_level": actor.default_level}


def check_writable(session: Session, actor: Principal, experiment_id: int) -> None:
    """EDIT on an active experiment, checked in one prebuilt query (runs are created often)."""
    params: dict[str, Any] = {"eid": experiment_id}
    if not actor.is_admin:
        params["uid"] = actor.id
    row = session.execute(_access_stmt(not actor.is_admin), params).first()
    if row is None:
        raise NotFound(f"Experiment {experiment_id} not found")
    granted = None if actor.is_admin else row[1]
    permissions.check_level(
        permissions.effective_level(actor, granted), "EDIT", "experiment", f"Experiment {experiment_id}"
    )
    if row[0] != "active":
        raise FailedPrecondition(f"Experiment {experiment_id} is deleted", {"lifecycle": row[0]})


def list_experiments(
    session: Session,
    actor: Principal,
    *,
    name: str | None = None,
    lifecycle: str | None = "active",
    max_results: int = 100,
    page_token: str | None = None,
    name_pattern: tuple[str, str] | None = None,
) -> tuple[list[Experiment], str | None]:
    """A page of the experiments the caller reads, by id. ``name_pattern`` is ``(op, pattern)`` with
    op LIKE (case-sensitive) or ILIKE, matched in the query (before paging)."""
    scope = paging.scope_of("experiments", name, lifecycle, name_pattern)
    token = paging.decode(page_token, scope)
    q = select(Experiment).where(permissions.filter_clause(actor, "experiment", Experiment.id))
    if name_pattern is not None:
        q = q.where(search_filter.compare(Experiment.name, *name_pattern))
    if name:
        q = q.where(Experiment.name == name)
    if lifecycle and lifecycle != "all":
        if lifecycle not in LIFECYCLES:
            raise InvalidArgument("lifecycle must be active, deleted or all", {"field": "lifecycle"})
        q = q.where(Experiment.lifecycle == lifecycle)
    if token:
        q = q.where(Experiment.id > int(token["after"]))
    rows = list(session.scalars(q.order_by(Experiment.id).limit(max_results + 1)))
    return paging.trim(rows, max_results, scope, "after", lambda r: r.id)


def update_experiment(
    session: Session,
    actor: Principal,
    experiment_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    lifecycle: str | None = None,
) -> Experiment:
    exp = get_experiment(session, actor, experiment_id, "EDIT")
    if name is not None and name != exp.name:
        _check_name(name)
        if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
            raise AlreadyExists(f"Experiment {name!r} already exists", {"name": name})
        exp.name = name
    if description is not None:
        exp.description = description
    if tags is not None:
        current = {t.key: t for t in exp.tags}
        for k, v in check_tags(tags).items():
            if k in current:
                current[k].value = v
            else:
                exp.tags.append(ExperimentTag(key=k, value=v))
    if lifecycle is not None:
        if lifecycle not in LIFECYCLES:
            raise InvalidArgument("lifecycle must be active or deleted", {"field": "lifecycle"})
        exp.lifecycle = lifecycle
    exp.updated_at = now_ms()
    return exp


def delete_experiment(session: Session, actor: Principal, experiment_id: int) -> Experiment:
    exp = get_experiment(session, actor, experiment_id, "MANAGE")
    exp.lifecycle = "deleted"
    exp.updated_at = now_ms()
    return exp
