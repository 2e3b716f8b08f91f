"""Schemas for explanations (global and the local sample's record) and model cards.

The PUT body is documented here but parsed by ``services.explain.validate.parse_json`` (which keeps
duplicate JSON keys visible), not loaded with marshmallow."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Base, Strict


class ExplanationBodySchema(Strict):
    importances = fields.Raw(
        required=True,
        metadata={
            "description": '{feature: number} or [{"feature": name, "importance": number}]; finite numbers, '
            "no duplicate features, at most 10,000"
        },
    )
    method = fields.String(
        required=True, metadata={"description": "permutation, shap, gain, coefficient or free text"}
    )
    dataset = fields.Raw(
        allow_none=True,
        metadata={"description": 'dataset version id, or {"dataset_version_id"?, "name"?, "hash"?}'},
    )
    per_class = fields.Dict(
        allow_none=True, metadata={"description": "{class: {feature: number}} for multi-class models"}
    )


class TopFeatureSchema(Base):
    rank = fields.Integer()
    feature = fields.String()
    importance = fields.Float()


class ExplanationSchema(Base):
    model = fields.String()
    version = fields.Integer()
    run_id = fields.String(allow_none=True)
    method = fields.String()
    importances = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "by |importance|, largest first"},
    )
    per_class = fields.Dict(allow_none=True)
    dataset = fields.Dict(allow_none=True)
    n_features = fields.Integer()
    top_features = fields.List(fields.Nested(TopFeatureSchema))
    source_run_id = fields.String(
        allow_none=True, metadata={"description": "the run this version's explanation was copied from"}
    )
    local_sample = fields.Dict(allow_none=True, metadata={"description": "{rows, size, sha256} or null"})
    created_at = fields.Integer()
    updated_at = fields.Integer()


class CardTextSchema(Strict):
    intended_use = fields.String(validate=validate.Length(max=20_000))
    limitations = fields.String(validate=validate.Length(max=20_000))


class CardArgs(Strict):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "md"]))


class ModelCardTextSchema(Base):
    model = fields.String()
    version = fields.Integer()
    intended_use = fields.String()
    limitations = fields.String()
    updated_at = fields.Integer()
