"""The per-app runtime: everything an app holds for its lifetime, typed, in one object.

``create_app`` builds one ``Runtime`` and stores it as ``app.extensions["tether"]``; request code reaches
it through ``context`` (``context.runtime()``, ``context.settings()``, ...), tests through
``Runtime.of(app)``. Nothing here is a module global, so two apps in one process (tests, or a server
embedding two configurations) share no settings, cache, permission default or worker.
"""

from __future__ import annotations

import atexit
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import Settings
from .db import Database
from .services.abtests.serving import ServingCache
from .services.events.bus import EVENT_PUBLISHED
from .services.identity.users import CREDENTIALS_CHANGED, TokenCache
from .telemetry import Instruments, instruments_for

if TYPE_CHECKING:
    from flask import Flask

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
    abtests: ServingCache = field(default_factory=ServingCache)  # A/B hot paths (services/abtests/serving)
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
        # A/B serving trusts a checked permission for the same period as a cached token; a commit
        # here that changed credentials or published an event (grants, groups, tests) re-checks now.
        rt.abtests.ttl = settings.auth_cache_seconds
        rt.database.on_commit(CREDENTIALS_CHANGED, rt.abtests.expire)
        rt.database.on_commit(EVENT_PUBLISHED, rt.abtests.expire)
        rt.metrics.watch_pool(rt.database)
        rt.workers = WorkerSet([w(rt) for w in WORKERS if w.enabled(settings)])
        return rt

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
