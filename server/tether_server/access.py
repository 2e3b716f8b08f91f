"""Deny-by-default access control.

Every view declares what it needs with ``@access(...)``. A ``before_request`` hook reads that
declaration from the routed view and authenticates/authorises before the view runs; a view
without a declaration is refused (403) and fails the URL-map test in the suite.

Policies: ``public`` (no credentials), ``authenticated`` (any active user), or a minimum role
(``viewer`` < ``writer`` < ``reviewer`` < ``admin``). Per-resource checks (READ/EDIT/MANAGE
grants) happen in the services, inside the SQL queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

ROLE_RANK = {"viewer": 1, "writer": 2, "reviewer": 3, "admin": 4}
POLICIES = ("public", "authenticated", *ROLE_RANK)

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints registered by libraries (static files, the OpenAPI spec) get their policy here.
LIBRARY_ENDPOINTS: dict[str, str] = {
    "static": "public",
    "api-docs.openapi_json": "public",
    "api-docs.openapi_swagger_ui": "public",
    "api-docs.openapi_redoc": "public",
    "api-docs.openapi_rapidoc": "public",
}


TOKEN_SCOPES = ("monitoring",)


def scoped(*scopes: str) -> Callable[[F], F]:
    """Routes a scoped token may call (a token with scopes may call nothing else)."""

    def deco(fn: F) -> F:
        fn._tether_scopes = frozenset(scopes)  # type: ignore[attr-defined]
        return fn

    return deco


def access(policy: str) -> Callable[[F], F]:
    if policy not in POLICIES:
        raise ValueError(f"unknown access policy {policy!r}")

    def deco(fn: F) -> F:
        fn._tether_access = policy  # type: ignore[attr-defined]
        return fn

    return deco


def policy_of(endpoint: str | None, view: Any) -> str | None:
    if endpoint is None:
        return None
    declared = getattr(view, "_tether_access", None)
    if declared is None and hasattr(view, "view_class"):
        declared = getattr(view.view_class, "_tether_access", None)
    return declared or LIBRARY_ENDPOINTS.get(endpoint)


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``id`` is None only for anonymous callers of public routes."""

    id: int
    name: str
    role: str
    token_id: int | None = None
    via: str = "token"  # token | session | local
    # What this caller holds on resources without a grant: the app's TETHER_DEFAULT_PERMISSION.
    default_level: str = "NONE"
    scopes: tuple[str, ...] = ()  # empty: a full token; ("monitoring",): monitoring data routes only

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[minimum]

    @property
    def can_write(self) -> bool:
        return self.has_role("writer")
