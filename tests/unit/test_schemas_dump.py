"""The compiled dumpers (``schemas.dump``) say exactly what marshmallow's own ``Schema.dump`` says.

Every output schema (every ``Base`` subclass) is checked on generated data of the declared types, as a
mapping and as an object, with keys left out at random; the batch's hand validation is held to the
``MetricPointSchema`` that documents it.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

import tether_server.schemas as schemas_pkg
from tether_server.errors import InvalidArgument
from tether_server.jsonutil import dumps
from tether_server.schemas import Base
from tether_server.schemas.dump import MetricValue, Pair, _always, compiled
from tether_server.schemas.runs import (
    BatchSchema,
    MetricHistorySchema,
    MetricPointSchema,
    RunPageSchema,
    RunSchema,
)
from tether_server.services.tracking.runs import parse_metrics

for _m in pkgutil.iter_modules(schemas_pkg.__path__):
    importlib.import_module(f"{schemas_pkg.__name__}.{_m.name}")


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


OUTPUT_SCHEMAS = sorted({c for c in _subclasses(Base) if c.__module__.startswith("tether_server")}, key=str)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53)


def _value(field: fields.Field, depth: int = 0) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any]
    if isinstance(field, MetricValue):
        base = FLOATS
    elif isinstance(field, fields.Nested):
        one = _obj(type(field.schema), depth + 1)
        base = st.lists(one, max_size=3) if field.many else one
    elif isinstance(field, fields.List):
        base = st.lists(_value(field.inner, depth + 1), max_size=3)
    elif isinstance(field, fields.Dict):
        values = _value(field.value_field, depth + 1) if field.value_field is not None else st.booleans()
        base = st.dictionaries(st.text(max_size=5), values, max_size=3)
    elif isinstance(field, fields.Boolean):
        base = st.booleans()
    elif isinstance(field, fields.Integer):
        base = st.integers(-(2**63), 2**63 - 1)
    elif isinstance(field, fields.Float):
        base = st.floats(allow_nan=False)
    elif isinstance(field, fields.String):
        base = st.text(max_size=8)
    else:
        base = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=4)
    return st.none() | base if field.allow_none else base


def _obj(cls: type[Schema], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping keyed by attribute name, some keys left out (never an always-present one: ``required``
    or ``dump_always`` is the schema's promise that the services always provide it)."""
    schema = cls()
    items = {
        (f.attribute or name): _value(f, depth)
        for name, f in schema.dump_fields.items()
        if type(f) not in (fields.Method, fields.Function)
    }
    always = {f.attribute or n for n, f in schema.dump_fields.items() if _always(schema, n, f)}
    # marshmallow reads a missing "items" key of a dict as the dict's .items method: always give those
    required = {k: items.pop(k) for k in list(items) if hasattr(dict, k) or k in always}
    return st.fixed_dictionaries(required, optional=items if depth < 3 else {})


def _same(got: Any, want: Any) -> bool:
    return dumps(got) == dumps(want)  # NaN != NaN; the wire bytes are what matter


@pytest.mark.parametrize("cls", OUTPUT_SCHEMAS, ids=lambda c: c.__name__)
def test_compiled_dump_equals_marshmallow(cls: type[Schema]) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=_obj(cls))
    def check(data: dict[str, Any]) -> None:
        for obj in (data, SimpleNamespace(**data)):
            try:
                want = Schema.dump(cls(), obj)  # marshmallow's generic dump, not Base's
            except (AttributeError, TypeError) as e:  # a Method/Function field needs data not generated
                with pytest.raises(type(e)):
                    compiled(cls)(obj)
                continue
            assert _same(compiled(cls)(obj), want), (cls.__name__, obj)

    check()


def test_base_dump_uses_the_compiled_builder_and_many() -> None:
    row = {"step": 1, "value": math.inf, "timestamp": 2, "key": "hidden"}
    assert MetricPointSchema().dump(row) == {"step": 1, "value": "Infinity", "timestamp": 2}
    assert MetricPointSchema(many=True).dump([row]) == [{"step": 1, "value": "Infinity", "timestamp": 2}]
    assert MetricPointSchema(only=["step"]).dump(row) == {"step": 1}  # only/exclude: marshmallow


def test_history_rows_may_be_tuples() -> None:
    out = MetricHistorySchema().dump({"key": "k", "items": [(0, math.nan, 5), (1, -math.inf, 6)]})
    assert out["items"] == [
        {"step": 0, "value": "NaN", "timestamp": 5},
        {"step": 1, "value": "-Infinity", "timestamp": 6},
    ]


RUN_ROW = dict(
    id="r",
    experiment_id=1,
    name="n",
    status="RUNNING",
    lifecycle="active",
    start_time=1,
    end_time=None,
    parent_run_id=None,
    created_by=2,
)


def test_run_latest_metrics_nonfinite_as_strings_and_pairs_dump_like_one_object() -> None:
    details = {
        "params": {"p": "1"},
        "tags": {},
        "metrics": {"a": {"value": math.nan, "step": 1, "timestamp": 2}},
    }
    one = RunSchema().dump({**RUN_ROW, **details})
    assert one["metrics"] == {"a": {"value": "NaN", "step": 1, "timestamp": 2}}
    pair = Pair((SimpleNamespace(**RUN_ROW), details))
    assert RunSchema().dump(pair) == one == RunPageSchema().dump({"items": [pair]})["items"][0]
    assert list(one) == list(RunSchema._declared_fields)


def test_spec_says_a_metric_value_may_be_a_string() -> None:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.schema("MetricPoint", schema=MetricPointSchema)
    value = spec.to_dict()["components"]["schemas"]["MetricPoint"]["properties"]["value"]
    assert value == {
        "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
    }


POINT = st.fixed_dictionaries(
    {"key": st.sampled_from(["loss", "a/b", "", "../x", 3])},
    optional={
        "value": FLOATS.map(
            lambda v: v if math.isfinite(v) else {math.inf: "Infinity", -math.inf: "-Infinity"}.get(v, "NaN")
        )
        | st.sampled_from(["nan", "x", None, True]),
        "step": st.integers(-(2**64), 2**64) | st.none() | st.just(1.5),
        "timestamp": st.integers(-5, 2**64) | st.none(),
    },
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(point=POINT)
def test_batch_validation_accepts_what_the_schema_documents(point: dict[str, Any]) -> None:
    """What the documented point schema accepts (by the spec's rules) the fast validator accepts too,
    and the other way round. Keys are checked by the same service rule as everywhere (not the spec's)."""
    documented = _documented_ok(point)
    try:
        parse_metrics([point], 10)
        accepted = True
    except InvalidArgument:
        accepted = False
    if point["key"] in ("loss", "a/b"):
        assert accepted == documented, point
    else:
        assert not accepted


def _documented_ok(point: dict[str, Any]) -> bool:
    value = point.get("value", None)
    if "value" not in point or isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str) and value not in ("NaN", "Infinity", "-Infinity", "nan"):
        return False  # "nan": the validator also takes Python's spelling (not documented)
    for name, lo in (("step", -(2**63)), ("timestamp", 0)):
        v = point.get(name)
        if v is not None and (type(v) is not int or not lo <= v < 2**63):
            return False
    return True


def test_batch_body_is_loaded_by_its_schema() -> None:
    loaded = BatchSchema().load({"params": {"a": 1}, "metrics": [{"key": "x", "value": 1}]})
    assert loaded == {"params": {"a": 1}, "tags": None, "metrics": [{"key": "x", "value": 1}]}
    with pytest.raises(Exception, match="Unknown field"):
        BatchSchema().load({"metric": []})


@pytest.mark.parametrize(
    ("values", "as_is"),
    [
        ([], True),
        ([0.5, -2.0, 3], True),
        ([1e308, 1e308], False),  # finite, but the sum overflows: the slow path, same values
        ([1.0, math.nan, math.inf, -math.inf], False),
        ([math.inf, -math.inf], False),  # sums to NaN
        ([None, 1.0], False),
        ([10**400, 2.0], False),  # an integer too large for a float
    ],
)
def test_floats_out_is_float_out_over_the_list(values: list[Any], as_is: bool) -> None:
    from tether_server.jsonutil import float_out, floats_out

    got = floats_out(values)
    assert got == [float_out(v) for v in values]  # no float NaN left to compare unequal
    assert (got is values) is as_is
