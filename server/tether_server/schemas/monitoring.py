"""Monitoring and alert schemas (inputs validated here; outputs are the services' JSON dicts)."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Strict, int32, int64

METRICS = ["accuracy", "precision", "recall", "f1", "auc", "rmse", "mae"]


class ReferenceSpec(Strict):
    dataset_version_id = fields.Integer(required=True, strict=True, validate=int32(1))


class _MonitorFields(Strict):
    columns = fields.List(fields.String(validate=validate.Length(1, 250)), validate=validate.Length(1, 2000))
    prediction_column = fields.String(allow_none=True, validate=validate.Length(1, 250))
    label_column = fields.String(allow_none=True, validate=validate.Length(1, 250))
    metric = fields.String(allow_none=True, validate=validate.OneOf(METRICS))
    baseline_metric = fields.String(allow_none=True, validate=validate.Length(1, 250))
    window_seconds = fields.Integer(strict=True, validate=validate.Range(60, 7 * 86400))
    grace_seconds = fields.Integer(strict=True, validate=validate.Range(0, 7 * 86400))
    thresholds = fields.Dict(keys=fields.String(), values=fields.Raw())
    retrain_on_decay = fields.Boolean()
    prediction_retention_days = fields.Integer(strict=True, validate=validate.Range(1, 3650))
    importances = fields.Dict(keys=fields.String(), values=fields.Float(allow_nan=False), allow_none=True)
    reference = fields.Nested(ReferenceSpec, allow_none=True)


class MonitorCreateSchema(_MonitorFields):
    name = fields.String(required=True, validate=validate.Length(1, 128))
    model = fields.String(required=True, validate=validate.Length(1, 128))
    stage = fields.String(validate=validate.Length(1, 16))
    alias = fields.String(validate=validate.Length(1, 64))


class MonitorUpdateSchema(_MonitorFields):
    name = fields.String(validate=validate.Length(1, 128))


class MonitorListArgs(Strict):
    model = fields.String(load_default=None)
    max_results = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    page_token = fields.Integer(load_default=None, validate=int32())


class RangeArgs(Strict):
    from_ = fields.Integer(load_default=None, data_key="from", validate=int64(0))
    to = fields.Integer(load_default=None, validate=int64(0))


class HistogramArgs(Strict):
    column = fields.String(required=True, validate=validate.Length(1, 250))


class AlertListArgs(Strict):
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "acknowledged", "resolved"]))
    monitor = fields.Integer(load_default=None, validate=int32())
    ab_test = fields.Integer(load_default=None, validate=int32())
    model = fields.String(load_default=None)
    max_results = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    page_token = fields.Integer(load_default=None, validate=int32())


class AlertDecisionSchema(Strict):
    comment = fields.String(load_default="", validate=validate.Length(0, 2000))
