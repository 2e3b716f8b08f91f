from __future__ import annotations

from marshmallow import fields, validate

from ..jsonutil import float_out
from . import Base, Strict, int32, int64
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


class LatestMetricField(fields.Field):
    def _serialize(self, value, attr, obj, **kw):  # type: ignore[no-untyped-def]
        return {
            k: {"value": float_out(m["value"]), "step": m["step"], "timestamp": m["timestamp"]}
            for k, m in (value or {}).items()
        }


class RunSchema(Base):
    id = fields.String()
    experiment_id = fields.Integer()
    name = fields.String()
    status = fields.String()
    lifecycle = fields.String()
    start_time = fields.Integer()
    end_time = fields.Integer(allow_none=True)
    parent_run_id = fields.String(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    params = fields.Dict(keys=fields.String(), values=fields.String())
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    metrics = LatestMetricField(
        metadata={"description": "latest value per metric key: {value, step, timestamp}"}
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


class BatchSchema(Strict):
    """Documented shape; the view validates metrics with a fast path (10,000 points per request)."""

    params = fields.Dict(keys=fields.String(), values=fields.Raw())
    tags = fields.Dict(keys=fields.String(), values=fields.Raw())
    metrics = fields.List(fields.Dict(), metadata={"description": "[{key, value, step, timestamp}]"})


class BatchResultSchema(Base):
    metrics = fields.Integer()
    params = fields.Integer()
    tags = fields.Integer()


class MetricHistoryArgs(Strict):
    max_points = fields.Integer(load_default=None)
    page_token = fields.String(load_default=None)
    max_results = fields.Integer(load_default=None)
