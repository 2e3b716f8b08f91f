"""The base of every domain event (``Event``).

Event types are in ``types/``; ``bus.publish`` records them. To run something once a transaction
has committed (purging a deleted version's files, waking the webhook delivery worker), use the one
post-commit hook, ``db.after_commit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, field
from typing import Any, ClassVar, dataclass_transform

from ...access import Principal

# Webhook event names in the order their classes were defined (subscriptions are validated against it).
WEBHOOK_EVENTS: list[str] = []


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class FrozenRecord:
    """A frozen, keyword-only record: a subclass declares annotated fields (with defaults, or
    ``field(default_factory=...)``) and may define ``__post_init__``, as a
    ``@dataclass(frozen=True, kw_only=True)`` would.

    What a dataclass generates per class (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
    ``__setattr__``; ~10 KB of code and ``Field`` objects each) is written once here, driven by the
    field names each subclass records when it is defined: the ~60 event types cost a gunicorn
    worker ~0.75 MiB less. Type checkers read the fields through ``dataclass_transform``.
    """

    __fields: ClassVar[tuple[str, ...]] = ()
    __defaults: ClassVar[dict[str, Any]] = {}
    __factories: ClassVar[dict[str, Callable[[], Any]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        own = [n for n, t in cls.__dict__.get("__annotations__", {}).items() if "ClassVar" not in str(t)]
        defaults, factories = dict(cls.__defaults), dict(cls.__factories)
        for name in own:
            value = cls.__dict__.get(name, MISSING)
            defaults.pop(name, None)
            factories.pop(name, None)
            if isinstance(value, Field):
                if value.default_factory is not MISSING:
                    factories[name] = value.default_factory
                elif value.default is not MISSING:
                    defaults[name] = value.default
                delattr(cls, name)
            elif value is not MISSING:
                defaults[name] = value
        cls.__fields = (*cls.__fields, *(n for n in own if n not in cls.__fields))
        cls.__defaults, cls.__factories = defaults, factories

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        for name in cls.__fields:
            if name in values:
                value = values.pop(name)
            elif name in cls.__defaults:
                value = cls.__defaults[name]
            elif name in cls.__factories:
                value = cls.__factories[name]()
            else:
                raise TypeError(f"{cls.__name__}() missing required keyword argument: {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{cls.__name__}() got unexpected keyword arguments: {', '.join(sorted(values))}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:  # as a dataclass does: a class may derive or default a field
            post_init()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in type(self).__fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in type(self).__fields)})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


class Event(FrozenRecord):
    """Base of every domain event.

    A subclass sets ``action`` (the audit action, ``<domain>.<what happened>``), optionally
    ``webhook`` (the public webhook event name; subscribers can then receive it) and
    ``resource_type``, declares its fields, and overrides what differs from the defaults below.
    ``request_id`` is the HTTP request id (a string) that caused the change.
    """

    action: ClassVar[str]
    webhook: ClassVar[str | None] = None
    resource_type: ClassVar[str] = ""

    actor: Principal | None
    request_id: str = ""
    comment: str = ""
    actor_name: str | None = None  # overrides actor.name (a failed login has no principal)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        hook = cls.__dict__.get("webhook")
        if hook and hook not in WEBHOOK_EVENTS:
            WEBHOOK_EVENTS.append(hook)

    # -- the audit row
    @property
    def resource_id(self) -> str | int:
        return ""

    @property
    def model_name(self) -> str | None:
        return None

    def from_value(self) -> str | None:
        return None

    def to_value(self) -> str | None:
        return None

    def details(self) -> dict[str, Any]:
        return {}

    # -- the webhook body's ``data``
    def data(self) -> dict[str, Any]:
        return {}
