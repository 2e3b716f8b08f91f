"""Per-request state (the calling principal, the request id) and the named units of work.

Every session a request uses comes from one of these four functions; nothing else opens sessions in
views, and services never commit (they take the session they are given):

==================  ==========================  =======================================================
mode                function                    what it is
==================  ==========================  =======================================================
request             ``db()``                    The request's transaction. GET/HEAD/OPTIONS read; other
transaction                                     methods write (SQLite: BEGIN IMMEDIATE). The pipeline
                                                commits it once after the view when the status is below
                                                400 and rolls it back otherwise. Most views use only this.
read-only           ``read_db()``               The request's session for a write-method route that only
                                                reads (``POST /runs/search``): no SQLite write lock, and
                                                on PostgreSQL autocommit (no BEGIN/COMMIT round trips).
autocommit          ``autocommit_db()``         PostgreSQL: the request's session in autocommit, for a
statement                                       write that is ONE atomic statement (``log_metric``, a
                                                run created with its first data).
                                                SQLite has no such mode: it returns ``db()``.
outside the         ``separate(write=False)``   A short unit of work of its own, before (or instead of)
transaction                                     the request's: reads before slow work (copy files before
                                                registration, stream an upload, the session-cookie
                                                check), or a write that must persist whatever the answer
                                                (a failed-login record). Commits at the end of the block
                                                when ``write``. Never open it while the request's write
                                                transaction is open (SQLite has one writer): end an
                                                unwritten request transaction with ``release_db()``.
==================  ==========================  =======================================================

A fifth mode is no session at all: ``statement()`` is a Connection for ONE short write whose
checks are folded into its statements (a guarded window post, a single ``log_metric``): PostgreSQL
autocommit; SQLite BEGIN IMMEDIATE … COMMIT around the block, so the write lock is held for the
block only, not until the request ends. It commits when the block ends and rolls back when it
raises. Open it before any other unit of the request, and never while the request's write
transaction is open (SQLite's lock is not re-entrant); when it wrote nothing, the request may go
on with ``db()`` to say why.

The first of ``db``/``read_db``/``autocommit_db`` called in a request decides the request session's
mode; the others then return that same session. Background work owns its sessions: see ``workers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from flask import current_app, g, request
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .access import Principal
from .errors import Unauthenticated

if TYPE_CHECKING:
    from .config import Settings
    from .db import Database
    from .runtime import Runtime
    from .storage import ArtifactStore

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def runtime() -> Runtime:
    return current_app.extensions["tether"]  # type: ignore[no-any-return]


def settings() -> Settings:
    return runtime().settings


def database() -> Database:
    return runtime().database


def store() -> ArtifactStore:
    return runtime().store


def _request_session(write: bool) -> Session:
    session = g.get("_db")
    if session is None:
        session = g._db = runtime().database.session(write=write)
    return session


def db() -> Session:
    """The request transaction (see the table above)."""
    return _request_session(request.method not in READ_METHODS)


def read_db() -> Session:
    """The request's session, read-only whatever the method."""
    return _request_session(False)


def autocommit_db() -> Session:
    """PostgreSQL: each statement commits by itself. SQLite: the request transaction."""
    return _request_session(runtime().database.dialect != "postgresql")


def statement() -> AbstractContextManager[Connection]:
    """A Connection for one short write that commits by itself (see the modes above)."""
    return runtime().database.statement()


def release_db() -> None:
    """End the request transaction before anything was written in it (its reads are dropped), so a
    ``separate`` write unit can take SQLite's write lock; the next ``db()`` call begins afresh."""
    session = g.get("_db")
    if session is not None:
        session.rollback()


@contextmanager
def separate(write: bool = False) -> Iterator[Session]:
    """A unit of work outside the request transaction (see the table above)."""
    with runtime().database.transaction(write) as s:
        yield s


def principal() -> Principal:
    p = g.get("principal")
    if p is None:
        raise Unauthenticated("Authentication required")
    return p


def request_id() -> str:
    return g.get("request_id", "")
