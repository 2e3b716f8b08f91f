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

from ..jsonutil import float_out

Dumper = Callable[[Any], dict[str, Any]]
MISSING = object()
_SCALARS = (fields.String, fields.Integer, fields.Float, fields.Boolean)
_CACHE: dict[type[Schema], Dumper] = {}


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
        self.env: dict[str, Any] = {"M": MISSING, "float_out": float_out}

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
            return f"[{fn}(x) for x in {v}]" if field.many else f"{fn}({v})"
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            return self.rows(field.inner, v)
        if isinstance(field, fields.List):
            inner = self.expr(field.inner, "x")
            return None if inner is None else f"[{inner} for x in {v}]"
        if isinstance(field, fields.Dict) and (field.key_field is None or _plain(field.key_field)):
            inner = self.expr(field.value_field, "x") if field.value_field is not None else "x"
            return None if inner is None else f"{{k: {inner} for k, x in {v}.items()}}"
        return None

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
            conv = self.expr(f, f"a{i}")
            if conv is None:
                return f"[{one} for x in {v}]"
            guard = (
                conv
                if conv == f"a{i}" or conv.startswith("float_out(")
                else f"None if a{i} is None else {conv}"
            )
            parts.append(f"{(f.data_key or name)!r}: {guard}")
        unpack = ", ".join(f"a{i}" for i in range(len(names)))
        tuples = f"[{{{', '.join(parts)}}} for {unpack} in {v}]"
        return f"({tuples} if {v} and type({v}[0]) is tuple else [{one} for x in {v}])"


def _source(schema: Schema, gen: _Gen) -> str:
    lines: dict[str, list[str]] = {"map": [], "obj": []}
    for name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else name
        attr = field.attribute if field.attribute is not None else name
        conv = gen.expr(field, "v")
        if conv is None or "." in attr:  # marshmallow reads and converts it (Method, Function, dotted paths)
            fn = gen.ref(field.serialize)
            acc = gen.ref(schema.get_attribute)
            for kind in lines:
                lines[kind] += [f"    v = {fn}({name!r}, o, {acc})", f"    if v is not M: out[{key!r}] = v"]
            continue
        if conv != "v" and not conv.startswith("float_out("):  # float_out passes None through
            conv = f"None if v is None else {conv}"
        lines["map"] += [f"    v = o.get({attr!r}, M)", f"    if v is not M: out[{key!r}] = {conv}"]
        lines["obj"] += [f"    v = getattr(o, {attr!r}, M)", f"    if v is not M: out[{key!r}] = {conv}"]
    return "\n".join(
        [
            "def dump_map(o):",
            "    out = {}",
            *lines["map"],
            "    return out",
            "def dump_obj(o):",
            "    out = {}",
            *lines["obj"],
            "    return out",
        ]
    )


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

            def fn(o: Any, _m: Dumper = by_map, _o: Dumper = by_obj) -> dict[str, Any]:
                return _m(o) if type(o) is dict or isinstance(o, Mapping) else _o(o)

        _CACHE[cls] = fn
    return fn
