"""Compile a marshmallow output schema into a plain dict builder.

A response schema is the one definition of a response: flask-smorest documents it in the OpenAPI
document and dumps the view's result with it. marshmallow's generic ``dump`` costs ~25 µs per run (a
100-run search page paid ~2.5 ms), so ``Base.dump`` runs the function built here instead: straight-line
Python generated from the schema's declared fields, once per schema class.

It keeps ``Schema.dump``'s meaning: a value is read by key from a mapping and by attribute from anything
else, a missing value leaves its key out, ``data_key`` renames and ``load_only`` fields are skipped.
Scalar fields (String, Integer, Float, Boolean, Raw, and Dict/List of them) pass their value through:
the services hand back the Python types the schema declares, which ``tests/test_schemas_dump.py``
checks against marshmallow's own ``dump`` for every response schema. Nested schemas, lists and dicts of
them and ``MetricValue`` are compiled too; any other field (``Method``, ``Function``, custom ones) is
serialized by marshmallow itself, so a new field type is correct before it is fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, fields

from ..jsonutil import float_out, floats_out

Dumper = Callable[[Any], dict[str, Any]]
MISSING = object()
_SCALARS = (fields.String, fields.Integer, fields.Float, fields.Boolean)
_CACHE: dict[type[Schema], Dumper] = {}
_PAIRS: dict[type[Schema], Any] = {}


class Pair(tuple):  # type: ignore[type-arg]  # (row, mapping): tuple.__new__ in C keeps a page cheap
    """``Pair((row, extra))``: a row and a mapping of the fields it lacks, for a schema with
    ``pair_fields`` (no merged copy)."""

    __slots__ = ()


class MetricValue(fields.Field):
    """A metric value: a JSON number, or "NaN" / "Infinity" / "-Infinity" for the non-finite ones."""

    def __init__(self, **kw: Any) -> None:
        metadata = {
            "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
            **kw.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kw)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kw: Any) -> Any:
        return None if value is None else float_out(value)


def _plain(field: fields.Field) -> bool:
    """True when marshmallow's dump of this field returns the (well-typed) value unchanged."""
    if isinstance(field, fields.Nested) or type(field) in (fields.Method, fields.Function):
        return False
    if isinstance(field, fields.Dict):
        return all(f is None or _plain(f) for f in (field.key_field, field.value_field))
    if isinstance(field, fields.List):
        return _plain(field.inner)
    if isinstance(field, MetricValue):
        return False
    return isinstance(field, _SCALARS) or type(field) is fields.Raw


class _Gen:
    """Collects the names the generated source refers to."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"M": MISSING, "float_out": float_out, "floats_out": floats_out}

    def ref(self, obj: Any) -> str:
        name = f"_r{len(self.env)}"
        self.env[name] = obj
        return name

    def expr(self, field: fields.Field, v: str) -> str | None:
        """An expression converting ``v`` as ``field`` dumps it; None when only marshmallow can."""
        if _plain(field):
            return v
        if isinstance(field, MetricValue):
            return f"float_out({v})"
        if isinstance(field, fields.Nested):
            nested = field.schema
            if nested.only or nested.exclude:
                return None
            fn = self.ref(compiled(type(nested)))
            pair = getattr(type(nested), "pair_fields", ())
            if pair and field.many:
                p, cls = self.ref(_pair_fn(type(nested))), self.ref(Pair)
                return f"[{p}(*x) if type(x) is {cls} else {fn}(x) for x in {v}]"
            inline = self.inline(nested, v)
            if inline is not None and not field.many:
                return f"({inline} if type({v}) is dict else {fn}({v}))"
            return f"[{fn}(x) for x in {v}]" if field.many else f"{fn}({v})"
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            if getattr(type(field.inner.schema), "pair_fields", ()):
                p, cls = self.ref(_pair_fn(type(field.inner.schema))), self.ref(Pair)
                fn = self.ref(compiled(type(field.inner.schema)))
                return f"[{p}(*x) if type(x) is {cls} else {fn}(x) for x in {v}]"
            return self.rows(field.inner, v)
        if isinstance(field, fields.List) and type(field.inner) is MetricValue:
            return f"floats_out({v})"  # a history column: one pass in C when every value is finite
        if isinstance(field, fields.List):
            inner = self.expr(field.inner, "x")
            return None if inner is None else f"[{inner} for x in {v}]"
        if isinstance(field, fields.Dict) and (field.key_field is None or _plain(field.key_field)):
            inner = self.expr(field.value_field, "x") if field.value_field is not None else "x"
            return None if inner is None else f"{{k: {inner} for k, x in {v}.items()}}"
        return None

    def inline(self, nested: Schema, v: str) -> str | None:
        """A dict literal for a small nested dict whose fields are all always present (a run's metrics)."""
        parts = []
        for name, f in nested.dump_fields.items():
            attr = f.attribute if f.attribute is not None else name
            if not _always(nested, name, f) or "." in attr:
                return None
            read = f"{v}[{attr!r}]"
            if _plain(f):
                parts.append(f"{(f.data_key or name)!r}: {read}")
            elif isinstance(f, MetricValue):
                parts.append(f"{(f.data_key or name)!r}: float_out({read})")
            else:
                return None
        return "{" + ", ".join(parts) + "}"

    def rows(self, field: fields.Nested, v: str) -> str | None:
        """A list of nested items. A schema with ``row_fields`` also takes tuples in that order (a
        10,000-point history is built in one comprehension, as fast as a hand-written one)."""
        nested = field.schema
        one = self.expr(field, "x")
        names = getattr(type(nested), "row_fields", None)
        if one is None or not names:
            return None if one is None else f"[{one} for x in {v}]"
        parts = []
        for i, name in enumerate(names):
            f = nested.dump_fields[name]
            conv = self.expr(f, f"r{i}")
            if conv is None:
                return f"[{one} for x in {v}]"
            guard = _guarded(conv, f"r{i}")
            parts.append(f"{(f.data_key or name)!r}: {guard}")
        unpack = ", ".join(f"r{i}" for i in range(len(names)))
        tuples = f"[{{{', '.join(parts)}}} for {unpack} in {v}]"
        return f"({tuples} if {v} and type({v}[0]) is tuple else [{one} for x in {v}])"


def _always(schema: Schema, name: str, field: fields.Field) -> bool:
    """A field every dumped object carries: ``required=True`` or listed in the schema's ``dump_always``
    (for a schema that also documents a body in which the field is optional). It is read without a
    missing check, in one dict literal: a service that leaves it out is a KeyError/AttributeError (500)."""
    return field.required or name in getattr(type(schema), "dump_always", ())


def _read(kind: str, attr: str, default: bool) -> str:
    if kind == "map":
        return f"o.get({attr!r}, M)" if default else f"o[{attr!r}]"
    if not default and attr.isidentifier():
        return f"o.{attr}"
    return f"getattr(o, {attr!r}, M)" if default else f"getattr(o, {attr!r})"


def _guarded(conv: str, v: str) -> str:
    """``conv`` with None passed through (float_out passes None through itself)."""
    return conv if conv == v or conv == f"float_out({v})" else f"None if {v} is None else {conv}"


def _source(schema: Schema, gen: _Gen) -> str:
    """Two functions (mapping in, object in): the always-present fields in one dict literal, in declared
    order, then the others, each only when present (as marshmallow leaves a missing value out)."""
    src = []
    for kind in ("map", "obj"):
        pre: list[str] = []
        head: list[str] = []
        tail: list[str] = []
        for i, (name, field) in enumerate(schema.dump_fields.items()):
            key = field.data_key if field.data_key is not None else name
            attr = field.attribute if field.attribute is not None else name
            conv = gen.expr(field, f"a{i}")
            if conv is None or "." in attr:  # marshmallow reads and converts it (Method, Function, dotted)
                fn, acc = gen.ref(field.serialize), gen.ref(schema.get_attribute)
                tail += [f"    v = {fn}({name!r}, o, {acc})", f"    if v is not M: out[{key!r}] = v"]
            elif _always(schema, name, field) and not tail:
                if conv == f"a{i}":
                    head.append(f"        {key!r}: {_read(kind, attr, default=False)},")
                else:
                    pre.append(f"    a{i} = {_read(kind, attr, default=False)}")
                    head.append(f"        {key!r}: {_guarded(conv, f'a{i}')},")
            else:
                tail += [
                    f"    a{i} = {_read(kind, attr, default=not _always(schema, name, field))}",
                    f"    if a{i} is not M: out[{key!r}] = {_guarded(conv, f'a{i}')}",
                ]
        src += [f"def dump_{kind}(o):", *pre, "    out = {", *head, "    }", *tail, "    return out"]
    return "\n".join(src + _pair_source(schema, gen))


def _pair_source(schema: Schema, gen: _Gen) -> list[str]:
    """``dump_pair(o, e)`` for a schema with ``pair_fields``, called for a ``Pair(o, e)``: a row ``o`` and a
    mapping ``e`` holding those fields (a run and its params/tags/metrics), all always present, built in one
    literal without a merged copy."""
    extra = getattr(type(schema), "pair_fields", ())
    if not extra:
        return []
    parts = []
    for i, (name, field) in enumerate(schema.dump_fields.items()):
        attr = field.attribute if field.attribute is not None else name
        conv = gen.expr(field, f"a{i}")
        if conv is None or not _always(schema, name, field) or not attr.isidentifier():
            raise TypeError(f"{type(schema).__name__}.{name}: pair dumps need plain, always-present fields")
        read = f"e[{attr!r}]" if name in extra else f"o.{attr}"
        parts.append(
            f"        {(field.data_key or name)!r}: {_guarded(conv, f'a{i}').replace(f'a{i}', read)},"
        )
    return ["def dump_pair(o, e):", "    return {", *parts, "    }"]


def _has_dump_hooks(schema: Schema) -> bool:
    hooks = getattr(schema, "_hooks", {})
    return any(hooks.get(tag) for tag in hooks if "dump" in str(tag))


def compiled(cls: type[Schema]) -> Dumper:
    """The dict builder for one schema class (built once, then cached)."""
    fn = _CACHE.get(cls)
    if fn is None:
        schema = cls()
        if _has_dump_hooks(schema):
            fn = schema.dump
        else:
            gen = _Gen()
            exec(_source(schema, gen), gen.env)  # noqa: S102 - source generated above from field names only
            by_map, by_obj = gen.env["dump_map"], gen.env["dump_obj"]
            by_pair = _PAIRS[cls] = gen.env.get("dump_pair")

            def fn(o: Any, _m: Dumper = by_map, _o: Dumper = by_obj, _p: Any = by_pair) -> dict[str, Any]:
                if type(o) is dict:
                    return _m(o)
                if type(o) is Pair and _p is not None:
                    return _p(*o)
                return _m(o) if isinstance(o, Mapping) else _o(o)

        _CACHE[cls] = fn
    return fn


def _pair_fn(cls: type[Schema]) -> Any:
    compiled(cls)
    return _PAIRS[cls]
