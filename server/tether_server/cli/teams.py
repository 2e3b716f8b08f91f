"""``tether groups`` and ``tether grants``: team administration on the configured database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NotRequired, TypedDict

import click
from sqlalchemy.orm import Session

from ..errors import TetherError
from . import load_settings, main, session_scope
from .users import _cli_actor


@contextlib.contextmanager
def _admin_session() -> Iterator[Session]:
    """A session on the configured database; a refused change is one line, not a traceback."""
    try:
        with session_scope(load_settings()) as s:
            yield s
    except TetherError as e:
        raise click.ClickException(e.message) from None


@main.group()
def groups() -> None:
    """Manage user groups (a grant to a group reaches every member)."""


@groups.command("create")
@click.argument("name")
@click.option("--description", default="")
def groups_create(name: str, description: str) -> None:
    from ..services.identity import groups as svc

    with _admin_session() as s:
        svc.create_group(s, _cli_actor(), name, description)
    click.echo(f"group {name} created")


@groups.command("delete")
@click.argument("name")
def groups_delete(name: str) -> None:
    """Delete a group, its memberships and its grants."""
    from ..services.identity import groups as svc

    with _admin_session() as s:
        svc.delete_group(s, _cli_actor(), svc.get_group(s, name))
    click.echo(f"group {name} deleted")


@groups.command("add")
@click.argument("group")
@click.argument("user_names", metavar="USER...", nargs=-1, required=True)
def groups_add(group: str, user_names: tuple[str, ...]) -> None:
    """Add users to a group: tether groups add GROUP USER [USER...]."""
    from ..services.identity import groups as svc
    from ..services.identity import users

    with _admin_session() as s:
        g = svc.get_group(s, group)
        for name in user_names:
            added = svc.add_member(s, _cli_actor(), g, users.get_user_by_name(s, name))
            click.echo(f"{name}: {'added to' if added else 'already in'} {group}")


@groups.command("remove")
@click.argument("group")
@click.argument("user_names", metavar="USER...", nargs=-1, required=True)
def groups_remove(group: str, user_names: tuple[str, ...]) -> None:
    """Remove users from a group."""
    from ..services.identity import groups as svc
    from ..services.identity import users

    with _admin_session() as s:
        g = svc.get_group(s, group)
        for name in user_names:
            svc.remove_member(s, _cli_actor(), g, users.get_user_by_name(s, name))
            click.echo(f"{name}: removed from {group}")


@groups.command("list")
def groups_list() -> None:
    """Groups and their members."""
    from ..services.identity import groups as svc

    with _admin_session() as s:
        found = svc.list_groups(s)
        members = svc.member_names(s, [g.id for g in found])
        for g in found:
            click.echo(f"{g.name}\t{','.join(members[g.id]) or '-'}\t{g.description}")


@main.group()
def grants() -> None:
    """Grant READ/EDIT/MANAGE to a user or group, on one experiment/model or on all of them."""


def _target_options(fn):  # type: ignore[no-untyped-def]
    opts = [
        click.option("--user", "user", default=None, help="grantee: a user name"),
        click.option("--group", "group", default=None, help="grantee: a group name"),
        click.option("--experiment", default=None, help="an experiment, by name"),
        click.option("--model", default=None, help="a registered model, by name"),
        click.option("--all-experiments", is_flag=True, help="every experiment, present and future"),
        click.option("--all-models", is_flag=True, help="every model, present and future"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


class _Resource(TypedDict):
    """``resolve_target``'s resource arguments: by name, or ``resource_id="*"`` for all of a type."""

    resource_type: str
    resource_name: NotRequired[str]
    resource_id: NotRequired[str]


class _Grantee(TypedDict, total=False):
    """``resolve_target``'s grantee argument: a user or a group, by name."""

    user: str
    group: str


def _resource(experiment: str | None, model: str | None, all_exp: bool, all_models: bool) -> _Resource:
    chosen = [
        (k, v)
        for k, v in (
            ("experiment", experiment),
            ("model", model),
            ("all-experiments", all_exp or None),
            ("all-models", all_models or None),
        )
        if v
    ]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of --experiment, --model, --all-experiments, --all-models")
    kind, value = chosen[0]
    if kind == "experiment":
        return {"resource_type": "experiment", "resource_name": str(value)}
    if kind == "model":
        return {"resource_type": "model", "resource_name": str(value)}
    return {"resource_type": "experiment" if kind == "all-experiments" else "model", "resource_id": "*"}


def _grantee(user: str | None, group: str | None) -> _Grantee:
    if (user is None) == (group is None):
        raise click.UsageError("Give exactly one of --user NAME and --group NAME")
    return {"user": user} if user else {"group": str(group)}


@grants.command("set")
@_target_options
@click.option("--level", type=click.Choice(["READ", "EDIT", "MANAGE"], case_sensitive=False), required=True)
def grants_set(level: str, user, group, experiment, model, all_experiments, all_models) -> None:  # type: ignore[no-untyped-def]
    """Set a level, e.g. tether grants set --group reviewers --all-models --level READ."""
    from ..services.identity import permissions as svc

    resource = _resource(experiment, model, all_experiments, all_models)
    with _admin_session() as s:
        target = svc.resolve_target(s, **_grantee(user, group), **resource)
        svc.set_grant(s, _cli_actor(), **target, level=level.upper())
        click.echo(_line(svc.describe(s, svc.list_grants(s, **_filters(target)))[0]))


@grants.command("revoke")
@_target_options
def grants_revoke(user, group, experiment, model, all_experiments, all_models) -> None:  # type: ignore[no-untyped-def]
    from ..services.identity import permissions as svc

    resource = _resource(experiment, model, all_experiments, all_models)
    with _admin_session() as s:
        target = svc.resolve_target(s, **_grantee(user, group), **resource)
        svc.revoke_grant(s, _cli_actor(), **target)
    click.echo("revoked")


@grants.command("list")
@click.option("--user", default=None, help="only this user's own grants")
@click.option("--group", default=None, help="only this group's grants")
def grants_list(user: str | None, group: str | None) -> None:
    """Every grant: grantee, resource, level."""
    from ..services.identity import groups as groups_svc
    from ..services.identity import permissions as svc
    from ..services.identity import users

    with _admin_session() as s:
        uid = users.get_user_by_name(s, user).id if user else None
        gid = groups_svc.get_group(s, group).id if group else None
        for row in svc.describe(s, svc.list_grants(s, user_id=uid, group_id=gid)):
            click.echo(_line(row))


def _filters(target: dict[str, Any]) -> dict[str, Any]:
    return {k: target[k] for k in ("user_id", "group_id", "resource_type", "resource_id")}


def _line(row: dict[str, object]) -> str:
    return f"{row['grantee']}\t{row['resource']}\t{row['grant'].level}"  # type: ignore[attr-defined]
