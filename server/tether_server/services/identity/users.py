"""Users, API tokens and password login."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ...access import ROLE_RANK, Principal
from ...db import after_commit
from ...errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from ...models import ApiToken, User, now_ms
from ..events import publish
from ..events import types as ev

TOKEN_PREFIX = "tth_"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


@functools.cache
def _dummy_hash() -> str:
    """A scrypt hash to check unknown names against, so login time does not reveal who exists (made on
    first use: hashing costs about 0.1 s of CPU, which every worker paid at import before)."""
    return generate_password_hash("tether-dummy-password", method="scrypt")


# Raised by changes that can end credentials (revocation, role/active/password change): once the
# transaction commits, the app clears its token cache (see runtime.Runtime).
CREDENTIALS_CHANGED = "credentials_changed"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and 20 <= len(token) <= 200 and token.isascii()


def validate_name(name: str) -> str:
    if not name or len(name) > 100 or not set(name) <= _NAME_OK:
        raise InvalidArgument(
            "User names are 1-100 characters of letters, digits and _ . - @", {"field": "name"}
        )
    return name


def validate_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise InvalidArgument(f"Unknown role {role!r}", {"allowed": list(ROLE_RANK)})
    return role


def principal_of(
    user: User,
    token_id: int | None = None,
    via: str = "token",
    default_level: str = "NONE",
    scopes: list[str] | None = None,
) -> Principal:
    return Principal(
        id=user.id,
        name=user.name,
        role=user.role,
        token_id=token_id,
        via=via,
        default_level=default_level,
        scopes=tuple(scopes or ()),
    )


def create_user(
    session: Session, actor: Principal | None, name: str, role: str, password: str | None = None
) -> User:
    validate_name(name)
    validate_role(role)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AlreadyExists(f"User {name!r} already exists")
    if password is not None and len(password) < 8:
        raise InvalidArgument("Passwords must be at least 8 characters", {"field": "password"})
    user = User(
        name=name,
        role=role,
        password_hash=generate_password_hash(password, method="scrypt") if password else None,
    )
    session.add(user)
    session.flush()
    publish(session, ev.UserCreated(actor=actor, user_id=user.id, name=name, role=role))
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def get_user_by_name(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"User {name!r} not found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def update_user(
    session: Session,
    actor: Principal,
    user: User,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    if role is not None and role != user.role:
        validate_role(role)
        publish(session, ev.UserRoleChanged(actor=actor, user_id=user.id, from_role=user.role, to_role=role))
        user.role = role
    if active is not None and active != user.active:
        publish(session, (ev.UserActivated if active else ev.UserDeactivated)(actor=actor, user_id=user.id))
        user.active = active
    if password is not None:
        if len(password) < 8:
            raise InvalidArgument("Passwords must be at least 8 characters", {"field": "password"})
        user.password_hash = generate_password_hash(password, method="scrypt")
        publish(session, ev.UserPasswordSet(actor=actor, user_id=user.id))
    after_commit(session, CREDENTIALS_CHANGED)
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


# ---------------------------------------------------------------- tokens


def create_token(
    session: Session,
    actor: Principal | None,
    user: User,
    name: str,
    expires_at: int | None = None,
    value: str | None = None,
    scopes: list[str] | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the plain value is returned once and only its hash is stored."""
    if not name or len(name) > 100:
        raise InvalidArgument("Token names are 1-100 characters", {"field": "name"})
    if expires_at is not None and expires_at <= now_ms():
        raise InvalidArgument("expires_at must be in the future", {"field": "expires_at"})
    plain = value or new_token_value()
    if not looks_like_token(plain):
        raise InvalidArgument(f"Tokens start with {TOKEN_PREFIX!r} and are 20-200 ASCII characters")
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(plain),
        display_prefix=plain[:8],
        expires_at=expires_at,
        scopes=_check_scopes(scopes),
    )
    session.add(token)
    session.flush()
    publish(
        session,
        ev.TokenCreated(
            actor=actor,
            token_id=token.id,
            user=user.name,
            name=name,
            expires_at=expires_at,
            scopes=token.scopes,
        ),
    )
    return token, plain


def _check_scopes(scopes: list[str] | None) -> list[str] | None:
    from ...access import TOKEN_SCOPES

    if not scopes:
        return None
    bad = [s for s in scopes if s not in TOKEN_SCOPES]
    if bad:
        raise InvalidArgument(f"Unknown token scopes {bad}; known: {list(TOKEN_SCOPES)}", {"field": "scopes"})
    return sorted(set(scopes))


def list_tokens(session: Session, user_id: int | None = None) -> list[ApiToken]:
    q = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        q = q.where(ApiToken.user_id == user_id)
    return list(session.scalars(q))


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"Token {token_id} not found")
    return token


def revoke_token(session: Session, actor: Principal, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = now_ms()
        publish(
            session, ev.TokenRevoked(actor=actor, token_id=token.id, name=token.name, user_id=token.user_id)
        )
    after_commit(session, CREDENTIALS_CHANGED)
    return token


@dataclass
class _Cached:
    principal: Principal
    expires_at: int | None
    fetched: float


class TokenCache:
    """Maps token hash -> principal for ``ttl`` seconds (TETHER_AUTH_CACHE_SECONDS; 0 = no cache), so a
    check costs a dict lookup. One per app (``Runtime.token_cache``).

    Revocations and user changes made through this app clear it when they commit; those made by other
    processes take effect within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._data: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._last_used_written: dict[int, float] = {}

    def get(self, digest: str) -> _Cached | None:
        hit = self._data.get(digest)
        if hit is None or time.monotonic() - hit.fetched > self.ttl:
            return None
        return hit

    def put(self, digest: str, principal: Principal, expires_at: int | None) -> _Cached:
        entry = _Cached(principal, expires_at, time.monotonic())
        if self.ttl > 0:
            with self._lock:
                if len(self._data) > 10_000:
                    self._data.clear()
                self._data[digest] = entry
        return entry

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def should_touch(self, token_id: int, every: float = 60.0) -> bool:
        """True at most once a minute per token: time to record ``last_used_at`` (see ``touch_token``)."""
        now = time.monotonic()
        last = self._last_used_written.get(token_id)
        if last is not None and now - last < every:
            return False
        self._last_used_written[token_id] = now
        return True


def authenticate_token(
    cache: TokenCache, session_factory: Callable[[], Session], plain: str, default_level: str = "NONE"
) -> Principal:
    """Resolve a bearer token to a principal (cached in ``cache``). Any failure is the same 401, with no
    hint why. ``session_factory`` gives a read session, used only on a cache miss."""
    if not looks_like_token(plain):
        raise Unauthenticated("Invalid or expired credentials")
    digest = hash_token(plain)
    hit = cache.get(digest)
    if hit is None:
        with session_factory() as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest)
            ).first()
            if row is None:
                raise Unauthenticated("Invalid or expired credentials")
            token, user = row
            if not hmac.compare_digest(token.token_hash, digest) or token.revoked_at or not user.active:
                raise Unauthenticated("Invalid or expired credentials")
            hit = cache.put(
                digest,
                principal_of(user, token.id, default_level=default_level, scopes=token.scopes),
                token.expires_at,
            )
    if hit.expires_at is not None and hit.expires_at <= now_ms():
        raise Unauthenticated("Invalid or expired credentials")
    return hit.principal


def touch_token(session: Session, token_id: int) -> None:
    """Record that the token was used now (callers do it at most once a minute: ``TokenCache.should_touch``)."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now_ms()))


# ---------------------------------------------------------------- passwords


def check_login(session: Session, name: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or not user.password_hash or not user.active:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
