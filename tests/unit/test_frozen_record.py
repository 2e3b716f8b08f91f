"""``FrozenRecord`` (the base of every event type) behaves as ``@dataclass(frozen=True, kw_only=True)``:
checked against a real dataclass declared with the same fields."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from tether_server.services.events.base import FrozenRecord


class Base(FrozenRecord):
    kind: ClassVar[str] = "base"
    actor: str | None
    note: str = ""


class Child(Base):
    kind = "child"
    n: int
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = "child default"  # a subclass may change an inherited default

    def __post_init__(self) -> None:  # runs after the fields are set, as a dataclass's does
        if self.actor is None:
            object.__setattr__(self, "actor", "system")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OracleBase:
    kind: ClassVar[str] = "base"
    actor: str | None
    note: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Oracle(OracleBase):
    kind = "child"
    n: int
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = "child default"

    def __post_init__(self) -> None:
        if self.actor is None:
            object.__setattr__(self, "actor", "system")


def _shape(obj: object) -> str:
    return repr(obj).split("(", 1)[1]  # the field list, without the class name


def test_fields_defaults_and_repr_match_a_dataclass():
    for kw in ({"actor": "a", "n": 1}, {"actor": None, "n": 2, "note": "x", "tags": ["t"]}):
        mine, oracle = Child(**kw), Oracle(**kw)  # type: ignore[arg-type]
        assert _shape(mine) == _shape(oracle)
        assert [getattr(mine, f.name) for f in dataclasses.fields(oracle)] == list(
            dataclasses.astuple(oracle)
        )
    assert Child(actor="a", n=1).tags is not Child(actor="a", n=1).tags  # a fresh list each time
    assert Child(actor=None, n=1).actor == Oracle(actor=None, n=1).actor == "system"  # __post_init__
    assert Child.kind == "child" and Base(actor=None).kind == "base" and Base(actor=None).note == ""


def test_equality_and_hash_follow_the_fields_and_the_class():
    a, b = Child(actor="a", n=1, tags=[]), Child(actor="a", n=1, tags=[])
    assert a == b and a != Child(actor="a", n=2) and a != Base(actor="a")
    with pytest.raises(TypeError):  # a list field is unhashable, as with a dataclass
        hash(a)
    assert hash(Base(actor="a", note="n")) == hash(Base(actor="a", note="n"))
    assert len({Base(actor="a"), Base(actor="a"), Base(actor="b")}) == 2


def test_frozen_and_keyword_only_with_the_dataclass_errors():
    rec = Child(actor="a", n=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.n = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del rec.n  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing required keyword argument: 'n'"):
        Child(actor="a")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword arguments: bogus"):
        Child(actor="a", n=1, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Child("a", 1)  # type: ignore[misc]
