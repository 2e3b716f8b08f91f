"""What a server may never need loads on first use, not when the app is imported.

Two kinds of code, one mechanism (``lazy_module``):

- **Heavy numerical modules.** numpy and scipy.special cost about 30 MiB and a few hundred
  milliseconds per gunicorn worker, and only the monitoring, A/B-test and explanation features
  need them.
- **Areas: monitoring and A/B tests** (``services/monitoring``, ``services/abtests`` and their
  tables in ``models.monitoring``, ``models.abtests``), and the explanation services beyond the
  rows the registry copies (``services.explain.records``): about 3 MiB per worker that a server whose
  team monitors and explains nothing would carry for nothing. Their routes, schemas and OpenAPI entries are
  registered with the app as usual; the modules that reach into an area from outside it (its API
  and UI views, the model card, its background worker) bind the area's modules lazily, and its
  worker waits for the area's first row (``workers.base.PollingWorker.area_table``). Code that needs
  every table calls ``models.load_all()``. ``tests/unit/test_lazy_imports.py`` pins which areas
  an idle server has loaded.
- **Surfaces: the MLflow layer and the web UI** load their view modules by route table instead
  (``urlrules.LazyView``).

A module binds ``np = lazy_module("numpy")`` (with the real import under ``TYPE_CHECKING`` for
mypy). The first attribute access imports the module (``importlib`` serialises concurrent first
imports); every access reads the module's attribute then (about 0.2 µs), and a write goes to the
module, so the proxy and the module always agree (a name rebound later, a test's patch).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module until one of its attributes is read."""

    __slots__ = ("_lazy_name", "_lazy_module")

    def __init__(self, name: str) -> None:
        self._lazy_name = name
        self._lazy_module: ModuleType | None = None

    def _load(self) -> ModuleType:
        module = self._lazy_module
        if module is None:
            module = self._lazy_module = importlib.import_module(self._lazy_name)
        return module

    def __getattr__(self, attr: str) -> Any:  # every read of a module attribute comes here
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:  # writes go to the module (tests patch)
        if attr in LazyModule.__slots__:
            object.__setattr__(self, attr, value)
        else:
            setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._lazy_module is not None else "not loaded yet"
        return f"<lazy module {self._lazy_name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """``name``'s module, imported on first attribute access (typed Any: import it for mypy)."""
    return LazyModule(name)
