"""Opaque page tokens: url-safe base64 of a small signed JSON payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from ..errors import InvalidArgument

T = TypeVar("T")

_KEY = b"tether-page-token"  # integrity only (detects tampering/garbage), not secrecy


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(_KEY, raw, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def decode(token: str | None, scope: str | None = None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, raw = blob[:8], blob[8:]
        if not hmac.compare_digest(mac, hmac.new(_KEY, raw, hashlib.sha256).digest()[:8]):
            raise ValueError("mac")
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("shape")
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidArgument("Invalid page_token", {"field": "page_token"}) from None
    if scope is not None and payload.get("scope") != scope:
        raise InvalidArgument("page_token belongs to a different query", {"field": "page_token"})
    return payload


def scope_of(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def trim(
    rows: Sequence[T], max_results: int, scope: str, field: str, last: Any
) -> tuple[list[T], str | None]:
    """A keyset page from rows fetched with ``LIMIT max_results + 1``: the first ``max_results``,
    and, if there were more, a token ``{scope, field: last(row)}`` for the last row kept."""
    if len(rows) <= max_results:
        return list(rows), None
    kept = list(rows[:max_results])
    return kept, encode({"scope": scope, field: last(kept[-1])})
