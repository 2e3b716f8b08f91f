from __future__ import annotations

import click

from . import load_settings, main, session_scope


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "writer", "reviewer", "admin"]), required=True)
@click.option("--password", is_flag=True, help="prompt for a web-login password")
@click.option("--token-name", default="cli", show_default=True)
def users_create(name: str, role: str, password: bool, token_name: str) -> None:
    """Create a user and print an API token for it (shown once)."""
    from ..services.identity import users as svc

    pw = click.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    with session_scope(load_settings()) as s:
        user = svc.create_user(s, _cli_actor(), name, role, pw)
        _t, plain = svc.create_token(s, _cli_actor(), user, token_name)
    click.echo(plain)


@users.command("list")
def users_list() -> None:
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        for u in svc.list_users(s):
            click.echo(f"{u.id}\t{u.name}\t{u.role}\t{'active' if u.active else 'inactive'}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "writer", "reviewer", "admin"]))
def users_set_role(name: str, role: str) -> None:
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        svc.update_user(s, _cli_actor(), svc.get_user_by_name(s, name), role=role)
    click.echo(f"{name}: role {role}")


@users.command("deactivate")
@click.argument("name")
def users_deactivate(name: str) -> None:
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        svc.update_user(s, _cli_actor(), svc.get_user_by_name(s, name), active=False)
    click.echo(f"{name}: deactivated")


@users.command("set-password")
@click.argument("name")
def users_set_password(name: str) -> None:
    from ..services.identity import users as svc

    pw = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session_scope(load_settings()) as s:
        svc.update_user(s, _cli_actor(), svc.get_user_by_name(s, name), password=pw)
    click.echo(f"{name}: password set")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.option("--user", "user_name", required=True)
@click.option("--name", required=True)
@click.option("--expires-days", type=int, default=None)
def tokens_create(user_name: str, name: str, expires_days: int | None) -> None:
    """Create a token (printed once)."""
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        user = svc.get_user_by_name(s, user_name)
        from ..models import now_ms

        expires = now_ms() + expires_days * 86_400_000 if expires_days else None
        _t, plain = svc.create_token(s, _cli_actor(), user, name, expires)
    click.echo(plain)


@tokens.command("list")
@click.option("--user", "user_name", default=None)
def tokens_list(user_name: str | None) -> None:
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        uid = svc.get_user_by_name(s, user_name).id if user_name else None
        for t in svc.list_tokens(s, uid):
            state = "revoked" if t.revoked_at else "active"
            click.echo(f"{t.id}\t{t.display_prefix}…\tuser={t.user_id}\t{t.name}\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    from ..services.identity import users as svc

    with session_scope(load_settings()) as s:
        svc.revoke_token(s, _cli_actor(), svc.get_token(s, token_id))
    click.echo(f"token {token_id} revoked")


def _cli_actor():  # type: ignore[no-untyped-def]
    import getpass

    from ..access import Principal

    return Principal(id=0, name=f"cli:{getpass.getuser()}", role="admin", via="local")
