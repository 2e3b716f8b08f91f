"""Monitoring and alert schemas (inputs validated here; outputs are the services' JSON dicts)."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Base, Strict, int32, int64

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


class DriftArgs(RangeArgs):
    view = fields.String(load_default="full", validate=validate.OneOf(["full", "cells"]))


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


# ---------------------------------------------------------------------------- outputs
# The services build these bodies (monitors.monitor_json, alerts.alert_json); the schemas below are
# their published shape, and the API fuzz test checks every live response against them.


class MonitorReferenceOut(Base):
    dataset_version_id = fields.Integer()


class MonitorSchema(Base):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    model = fields.String(required=True)
    stage = fields.String(allow_none=True)
    alias = fields.String(allow_none=True)
    reference = fields.Nested(MonitorReferenceOut, allow_none=True)
    columns = fields.List(fields.String(), allow_none=True)
    prediction_column = fields.String(allow_none=True)
    label_column = fields.String(allow_none=True)
    metric = fields.String(allow_none=True)
    baseline_metric = fields.String(allow_none=True)
    window_seconds = fields.Integer()
    grace_seconds = fields.Integer()
    thresholds = fields.Dict(keys=fields.String(), values=fields.Raw())
    retrain_on_decay = fields.Boolean()
    prediction_retention_days = fields.Integer()
    importances = fields.Dict(keys=fields.String(), values=fields.Float(), allow_none=True)
    created_at = fields.Integer(metadata={"description": "epoch ms"})
    updated_at = fields.Integer(metadata={"description": "epoch ms"})


class MonitorPageSchema(Base):
    items = fields.List(fields.Nested(MonitorSchema))
    next_page_token = fields.String(allow_none=True)


class AlertSchema(Base):
    id = fields.Integer(required=True)
    kind = fields.String(metadata={"description": "monitor | abtest"})
    monitor_id = fields.Integer(allow_none=True)
    ab_test_id = fields.Integer(allow_none=True)
    model_id = fields.Integer(allow_none=True)
    rule = fields.String()
    column = fields.String(allow_none=True)
    severity = fields.String(metadata={"description": "warn | alert"})
    status = fields.String(metadata={"description": "open | acknowledged | resolved"})
    message = fields.String()
    details = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)
    first_window = fields.Integer(allow_none=True)
    last_window = fields.Integer(allow_none=True)
    clean_windows = fields.Integer()
    opened_at = fields.Integer()
    updated_at = fields.Integer()
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.Integer(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = fields.Integer(allow_none=True)
    resolve_comment = fields.String(allow_none=True)


class AlertPageSchema(Base):
    items = fields.List(fields.Nested(AlertSchema))
    next_page_token = fields.String(allow_none=True)


class ABTestSchema(Base):
    id = fields.Integer(required=True)
    model = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "draft | running | stopped"})
    state = fields.String(
        metadata={"description": "running | treatment_better | treatment_worse | inconclusive | invalid"}
    )
    control = fields.String()
    arms = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()))
    traffic = fields.List(fields.Float())
    metric = fields.String()
    metric_type = fields.String(metadata={"description": "proportion | mean"})
    direction = fields.String(metadata={"description": "higher | lower"})
    guardrails = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()))
    alpha = fields.Float()
    min_units = fields.Integer()
    min_events = fields.Integer()
    tuning_n = fields.Integer()
    stopped_arms = fields.List(fields.String())
    transition_id = fields.Integer(allow_none=True)
    recommendation = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.Integer(allow_none=True)
    started_at = fields.Integer(allow_none=True)
    stopped_at = fields.Integer(allow_none=True)
    decided_at = fields.Integer(allow_none=True)


class ABTestPageSchema(Base):
    items = fields.List(fields.Nested(ABTestSchema))
    next_page_token = fields.String(allow_none=True)
