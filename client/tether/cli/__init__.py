"""The one ``tether`` command.

The client package owns the entry point (``tether = "tether.cli:main"``) and its pipeline verbs
(``login``, ``runs``, ``models``), which talk HTTP to ``TETHER_URL`` with ``TETHER_TOKEN`` and need
nothing but the client. Other installed packages add commands through the ``tether.commands``
entry-point group: each entry is a click command, loaded only when it is invoked (or listed by
``--help``). The server package registers its admin commands there (``server``, ``db``, ``users``,
``tokens``, ``gc``, ``webhooks``), so with only the client installed they simply do not exist.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import Any

import click

from .._version import __version__
from ._common import EXIT_CODES_HELP

__all__ = ["main", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "tether.commands"


def _importable(module: str) -> bool:
    """Whether the entry's top-level package is installed (without importing it)."""
    try:
        return find_spec(module.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return False


class TetherGroup(click.Group):
    """Built-in verbs plus the commands other packages register under ``tether.commands``."""

    def _plugins(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in self.commands and _importable(ep.module):
                found.setdefault(ep.name, ep)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(cmd_name)
        if ep is None:
            return None
        try:
            loaded = ep.load()
        except ImportError as exc:  # a half-installed server package: say so instead of a traceback
            raise click.ClickException(f"`tether {cmd_name}` is unavailable: {exc}") from None
        return loaded if isinstance(loaded, click.Command) else None


@click.group(
    cls=TetherGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
def main() -> None:
    """Tether: experiment tracking and a model registry with reviewed promotions.

    Pipeline verbs talk to the server at TETHER_URL with the token in TETHER_TOKEN (or the
    credentials file written by `tether login`). Results go to stdout (--json for JSON),
    messages to stderr.
    """


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"tether {__version__}")


from . import auth, models, models_fetch, models_transitions, runs, sync  # noqa: E402,F401  (register the built-in verbs)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
