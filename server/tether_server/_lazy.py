"""Heavy numerical modules load on first use, not when the app is imported.

numpy and scipy.special cost about 30 MiB and a few hundred milliseconds per gunicorn worker, and
only the monitoring, A/B-test and explanation features need them. Those modules bind
``np = lazy_module("numpy")`` (with the real import under ``TYPE_CHECKING`` for mypy), so a
server that never computes a statistic never loads them. The first attribute access imports the
module (``importlib`` serialises concurrent first imports) and copies the attribute onto the
proxy, so later accesses are plain attribute lookups.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module until one of its attributes is read."""

    __slots__ = ("_lazy_name", "_lazy_module", "__dict__")

    def __init__(self, name: str) -> None:
        self._lazy_name = name
        self._lazy_module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only called when the attribute is not cached yet
        module = self._lazy_module
        if module is None:
            module = self._lazy_module = importlib.import_module(self._lazy_name)
        value = getattr(module, attr)
        self.__dict__[attr] = value
        return value

    def __repr__(self) -> str:
        state = "loaded" if self._lazy_module is not None else "not loaded yet"
        return f"<lazy module {self._lazy_name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """``name``'s module, imported on first attribute access (typed Any: import it for mypy)."""
    return LazyModule(name)
