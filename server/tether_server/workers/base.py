"""The worker contract: ``Worker`` (what create_app, the CLI and tests rely on) and ``PollingWorker``
(a thread that runs ``run_once`` every ``poll_seconds`` or as soon as it is woken)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sqlalchemy import Select, literal_column, select, table
from sqlalchemy.exc import DBAPIError

from ..errors import is_connection_error

if TYPE_CHECKING:
    from ..config import Settings
    from ..runtime import Runtime

logger = logging.getLogger(__name__)


class Worker(Protocol):
    """Background work of one app. It owns its sessions (``runtime.database.transaction()``), never
    the request's. ``enabled`` reads the app's settings; ``start`` must return at once."""

    name: ClassVar[str]

    def __init__(self, runtime: Runtime) -> None: ...
    @classmethod
    def enabled(cls, settings: Settings) -> bool: ...
    def run_once(self) -> int: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def wake(self) -> None: ...
    @property
    def running(self) -> bool: ...


class PollingWorker:
    """A daemon thread calling ``run_once`` every ``poll_seconds``, or at once after ``wake()``.

    Subclasses set ``name`` and implement ``enabled``, ``poll_seconds`` and ``run_once`` (one pass that
    claims its rows as the ``workers`` package docstring describes and commits its own transactions).
    An exception in a pass is logged and the loop goes on: the database keeps the work.

    ``area_table``: set by the worker of an area that loads on first use (monitoring, A/B tests; see
    ``tether_server._lazy``). Until that table has a row, a pass is one ``SELECT 1 ... LIMIT 1`` and
    the area's code and tables stay unloaded in this process; from the first row on, every pass runs.
    """

    name: ClassVar[str] = "worker"
    area_table: ClassVar[str | None] = None

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_use = self.area_table is None

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return True

    @property
    def poll_seconds(self) -> float:
        raise NotImplementedError

    def run_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=f"tether-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def in_use(self) -> bool:
        """Whether the worker's area has anything to work on yet (always, without ``area_table``)."""
        if not self._in_use:
            probe: Select[Any] = select(literal_column("1")).select_from(table(str(self.area_table))).limit(1)
            with self.runtime.database.transaction(write=False) as s:
                self._in_use = s.execute(probe).first() is not None
        return self._in_use

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        down_since: float | None = None  # the database is unreachable: one warning per outage
        while not self._stopping.is_set():
            try:
                if self.in_use():
                    self.run_once()
                if down_since is not None:
                    logger.warning(
                        "%s: database reachable again after %.0fs", self.name, time.monotonic() - down_since
                    )
                    down_since = None
            except DBAPIError as exc:
                if not is_connection_error(exc):
                    logger.exception("%s: pass failed", self.name)
                elif down_since is None:
                    down_since = time.monotonic()
                    logger.warning(
                        "%s: database unavailable (%s); retrying", self.name, type(exc.orig).__name__
                    )
            except Exception:  # noqa: BLE001  (keep the worker alive; the rows keep the work)
                logger.exception("%s: pass failed", self.name)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()


class WorkerSet:
    """The workers of one app (``Runtime.workers``): built from ``WORKERS``, started by ``create_app``,
    stopped by ``Runtime.close`` (at interpreter exit, which a SIGTERM'd gunicorn worker reaches)."""

    def __init__(self, workers: list[Worker]) -> None:
        self._workers = workers

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._workers)

    def get(self, name: str) -> Worker | None:
        return next((w for w in self._workers if w.name == name), None)

    def start(self) -> None:
        for w in self._workers:
            w.start()

    def stop(self, timeout: float = 10.0) -> None:
        for w in self._workers:
            w.stop(timeout)
