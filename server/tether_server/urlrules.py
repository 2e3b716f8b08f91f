"""URL rules whose reverse builders are compiled on first use.

When a rule is bound to the app's URL map, werkzeug compiles two Python functions for it (building a
URL with and without extra query arguments) from an AST. With 200 routes that is a fifth of a worker's
start-up CPU and about a megabyte per process, for builders that only ``url_for`` calls (the web UI's
links, a few dozen routes). ``LazyBuildRule`` compiles each builder the first time it is called; URL
matching is untouched. If werkzeug ever renames the hook, the override is simply not called and rules
compile eagerly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule


class LazyBuildRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:  # two threads may both compile: the results are equal
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(**values)

        return build
