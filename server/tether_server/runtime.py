"""The per-app runtime: everything an app holds for its lifetime, typed, in one object.

``create_app`` builds one ``Runtime`` and stores it as ``app.extensions["tether"]``; request code reaches
it through ``context`` (``context.runtime()``, ``context.settings()``, ...), tests through
``Runtime.of(app)``. Nothing here is a module global, so two apps in one process (tests, or a server
embedding two configurations) share no settings, cache, permission default or worker.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import Settings
from .db import Database
from .services.events.bus import EVENT_PUBLISHED
from .services.identity.users import CREDENTIALS_CHANGED, TokenCache
from .telemetry import Instruments, instruments_for

if TYPE_CHECKING:
    from flask import Flask

    from .services.abtests.serving import ServingCache
    from .storage import ArtifactStore
    from .workers import WorkerSet

EXTENSION = "tether"


@dataclass(eq=False)
class Runtime:
    settings: Settings
    database: Database
    store: ArtifactStore
    token_cache: TokenCache
    workers: WorkerSet = field(init=False)
    metrics: Instruments = field(default_factory=Instruments)  # no-op unless TETHER_METRICS is on (telemetry)
    _abtests: ServingCache | None = field(default=None, init=False, repr=False)  # see ``abtests``
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    api: Any = None  # the flask-smorest Api (its OpenAPI spec), set by register_api

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        """Database, artifact store, token cache and the enabled workers (not started)."""
        from .storage import store_from_settings
        from .workers import WORKERS, WorkerSet

        rt = cls(
            settings=settings,
            database=Database(settings.resolved_database_url),
            store=store_from_settings(settings),
            token_cache=TokenCache(ttl=settings.auth_cache_seconds),
            metrics=instruments_for(settings.metrics),
        )
        rt.database.on_commit(CREDENTIALS_CHANGED, rt.token_cache.clear)
        rt.metrics.watch_pool(rt.database)
        rt.workers = WorkerSet([w(rt) for w in WORKERS if w.enabled(settings)])
        return rt

    @property
    def abtests(self) -> ServingCache:
        """The A/B hot paths' cache (``services/abtests/serving``), built by the first A/B request:
        the A/B area loads on first use (see ``_lazy``), so a server that runs no test never loads it."""
        cache = self._abtests
        if cache is None:
            with self._lock:
                if self._abtests is None:
                    from .services.abtests.serving import ServingCache

                    # A/B serving trusts a checked permission for the same period as a cached token;
                    # a commit that changed credentials or published an event (grants, groups,
                    # tests) re-checks now.
                    built = ServingCache(ttl=self.settings.auth_cache_seconds)
                    self.database.on_commit(CREDENTIALS_CHANGED, built.expire)
                    self.database.on_commit(EVENT_PUBLISHED, built.expire)
                    self._abtests = built
                cache = self._abtests
        return cache

    @property
    def default_permission(self) -> str:
        """What users hold on resources without a grant (``Principal.default_level`` carries it)."""
        return self.settings.default_permission

    @staticmethod
    def of(app: Flask) -> Runtime:
        return app.extensions[EXTENSION]  # type: ignore[no-any-return]

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def start(self) -> None:
        """Start the workers; they are stopped by ``close()`` or at interpreter exit."""
        if not list(self.workers):
            return
        self.workers.start()
        atexit.register(_stop_at_exit, weakref.ref(self))

    def close(self) -> None:
        """Stop the workers, then close the database pool."""
        self.workers.stop()
        self.database.dispose()


def _stop_at_exit(ref: weakref.ref[Runtime]) -> None:
    runtime = ref()
    if runtime is not None:
        runtime.workers.stop(5.0)
