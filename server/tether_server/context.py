"""Per-request state: the database session and the calling principal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, g, request
from sqlalchemy.orm import Session

from .access import Principal
from .errors import Unauthenticated

if TYPE_CHECKING:
    from .config import Settings
    from .db import Database

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def ext() -> dict[str, Any]:
    return current_app.extensions["tether"]


def settings() -> Settings:
    return ext()["settings"]


def database() -> Database:
    return ext()["db"]


def db(read_only: bool = False) -> Session:
    """The request's session; write requests get a write transaction (SQLite: BEGIN IMMEDIATE).

    ``read_only=True`` is for POST routes that only read (search): they get a read session, so
    they neither take SQLite's write lock nor pay PostgreSQL's BEGIN/COMMIT round trips."""
    session = g.get("_db")
    if session is None:
        session = database().session(write=not read_only and request.method not in READ_METHODS)
        g._db = session
    return session


def principal() -> Principal:
    p = g.get("principal")
    if p is None:
        raise Unauthenticated("Authentication required")
    return p


def request_id() -> str:
    return g.get("request_id", "")
