from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from . import Base, Strict, int32, int64
from .dump import MetricValue
from .experiments import TagsField

STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED"]


class RunCreateSchema(Strict):
    experiment_id = fields.Integer(required=True, strict=True, validate=int32())
    name = fields.String(load_default=None, validate=validate.Length(max=250))
    tags = TagsField(load_default=None)
    parent_run_id = fields.String(load_default=None, validate=validate.Length(max=32))
    start_time = fields.Integer(load_default=None, strict=True, validate=int64(0))
    params = fields.Raw(load_default=None, metadata={"description": "initial params {key: value}"})
    metrics = fields.Raw(
        load_default=None,
        metadata={
            "description": "initial metric points [{key, value, step, timestamp}], validated like a batch"
        },
    )


class RunUpdateSchema(Strict):
    status = fields.String(validate=validate.OneOf(STATUSES))
    end_time = fields.Integer(strict=True, validate=int64(0))
    name = fields.String(validate=validate.Length(max=250))


class MetricPointSchema(Base):
    """One metric point, in (batch, single log) and out (history, a run's latest values)."""

    row_fields = ("step", "value", "timestamp")  # history rows may be (step, value, timestamp) tuples
    dump_always = row_fields  # every point that goes out has all three (step/timestamp optional in)

    key = fields.String(
        load_only=True, required=True, metadata={"description": "letters, digits, _ - . / : and space"}
    )
    value = MetricValue(required=True)
    step = fields.Integer(
        allow_none=True, validate=int64(), metadata={"description": "default 0 (in), always set (out)"}
    )
    timestamp = fields.Integer(
        allow_none=True, validate=int64(0), metadata={"description": "epoch ms; default: when received"}
    )


class RunSchema(Base):
    """A run; every field is always present (``required``: read without a missing check). Dumped from a
    ``(run row, {"params", "tags", "metrics"})`` pair (``pair_fields``) or from one object/mapping."""

    pair_fields = ("params", "tags", "metrics")

    id = fields.String(required=True)
    experiment_id = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True)
    lifecycle = fields.String(required=True)
    start_time = fields.Integer(required=True)
    end_time = fields.Integer(required=True, allow_none=True)
    parent_run_id = fields.String(required=True, allow_none=True)
    created_by = fields.Integer(required=True, allow_none=True)
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    metrics = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(MetricPointSchema),
        required=True,
        metadata={"description": "latest value per metric key: {value, step, timestamp}"},
    )


class RunPageSchema(Base):
    items = fields.List(fields.Nested(RunSchema))
    next_page_token = fields.String(allow_none=True)


class RunSearchSchema(Strict):
    experiment_ids = fields.List(fields.Integer(strict=True, validate=int32()), load_default=None)
    filter = fields.String(load_default=None, validate=validate.Length(max=4000))
    order_by = fields.List(
        fields.String(validate=validate.Length(max=300)), load_default=None, validate=validate.Length(max=10)
    )
    max_results = fields.Integer(load_default=100, strict=True)
    page_token = fields.String(load_default=None)
    lifecycle = fields.String(load_default="active", validate=validate.OneOf(["active", "deleted", "all"]))


class MetricPoints(fields.List):
    """A list of ``MetricPointSchema`` points, documented as such. Loading only checks it is a list:
    the points (up to 10,000 per request) are validated by ``services.tracking.runs.parse_metrics`` by
    the same rules, in one pass, which ``tests/test_schemas_dump.py`` holds to this schema."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(fields.Nested(MetricPointSchema), **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        return value


class BatchSchema(Strict):
    """The batch body; the view loads it with this schema (unknown fields are a 400)."""

    params = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None, allow_none=True)
    tags = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None, allow_none=True)
    metrics = MetricPoints(load_default=None, allow_none=True)


class MetricHistorySchema(Base):
    key = fields.String()
    items = fields.List(fields.Nested(MetricPointSchema))
    next_page_token = fields.String(allow_none=True)
    downsampled = fields.Boolean(metadata={"description": "true when max_points thinned the history"})
    total_points = fields.Integer(metadata={"description": "with max_points: points before thinning"})


class MetricColumnsSchema(Base):
    """A metric history as three parallel arrays (``format=columnar`` or ``Accept: COLUMNAR``): the same
    points as ``MetricHistorySchema``'s ``items``, in the same order, without a key per point (a
    10,000-point history decodes about 4x faster on the client)."""

    key = fields.String(required=True)
    steps = fields.List(fields.Integer(), required=True)
    values = fields.List(MetricValue(), required=True)
    timestamps = fields.List(fields.Integer(), required=True, metadata={"description": "epoch ms"})
    next_page_token = fields.String(required=True, allow_none=True)
    downsampled = fields.Boolean(required=True)
    total_points = fields.Integer(metadata={"description": "with max_points: points before thinning"})


# The media type of the columnar history (``Accept`` chooses it, as does ``format=columnar``).
COLUMNAR = "application/vnd.tether.columnar+json"


class BatchResultSchema(Base):
    metrics = fields.Integer()
    params = fields.Integer()
    tags = fields.Integer()


class MetricHistoryArgs(Strict):
    max_points = fields.Integer(load_default=None)
    page_token = fields.String(load_default=None)
    max_results = fields.Integer(load_default=None)
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(["rows", "columnar"]),
        metadata={
            "description": "rows (default: items of {step, value, timestamp}) or columnar (steps, values, "
            f"timestamps arrays, answered as {COLUMNAR}); without it, Accept: {COLUMNAR} chooses columnar"
        },
    )
