"""URL rules whose reverse builders are compiled on first use, and views imported on first use.

When a rule is bound to the app's URL map, werkzeug compiles two Python functions for it (building a
URL with and without extra query arguments) from an AST. With 200 routes that is a fifth of a worker's
start-up CPU and about a megabyte per process, for builders that only ``url_for`` calls (the web UI's
links, a few dozen routes). ``LazyBuildRule`` compiles each builder the first time it is called; URL
matching is untouched. If werkzeug ever renames the hook, the override is simply not called and rules
compile eagerly as before.

``LazyView`` and ``add_routes`` are Flask's "lazily loading views" pattern, for the plain Flask
surfaces a server may never serve: the MLflow layer (``api/mlflow``) and the web UI (``ui``). Their
routes are declared in one table per surface (rule, function, methods), registered with the app as
usual (matching, ``url_for``, the route-coverage test and the access check see every rule), and a
view's module is imported by the first request to one of its routes. About 1 MiB per worker that
serves neither surface. The view functions keep their ``@access``/``@scoped`` declarations: the
pipeline reads them through the ``LazyView``, which imports the module then.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule

if TYPE_CHECKING:
    from flask import Blueprint

#: (rule, view function name, methods) of one module's routes.
Routes = Iterable[tuple[str, str, tuple[str, ...]]]


class LazyBuildRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:  # two threads may both compile: the results are equal
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(**values)

        return build


class LazyView:
    """The view function ``function`` of ``module``, imported by its first call (or by the first
    read of one of its attributes, such as the access declaration the pipeline reads first)."""

    __slots__ = ("module", "function", "_view", "__name__")
    required_methods = ()  # what Flask reads while registering the rule, answered without importing
    provide_automatic_options = None

    def __init__(self, module: str, function: str) -> None:
        self.module, self.function, self.__name__ = module, function, function
        self._view: Callable[..., Any] | None = None

    @property
    def view(self) -> Callable[..., Any]:
        view = self._view
        if view is None:  # importlib serialises concurrent first imports; both get the same function
            view = self._view = getattr(importlib.import_module(self.module), self.function)
        return view

    def __call__(self, **kwargs: Any) -> Any:
        return self.view(**kwargs)

    def __getattr__(self, attr: str) -> Any:  # _tether_access, _tether_scopes, __doc__, ...
        return getattr(self.view, attr)

    def __repr__(self) -> str:
        return f"<LazyView {self.module}:{self.function}>"


def add_routes(bp: Blueprint, module: str, routes: Routes) -> Blueprint:
    """Add ``routes`` to ``bp``, each served by a ``LazyView`` of ``module``; returns ``bp``."""
    for rule, function, methods in routes:
        bp.add_url_rule(rule, endpoint=function, view_func=LazyView(module, function), methods=list(methods))
    return bp
