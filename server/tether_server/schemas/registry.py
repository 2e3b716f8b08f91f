"""Schemas for registered models, versions, aliases, transition requests, policies, webhooks and lineage."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Base, ListArgs, Strict, int32, page_of
from .experiments import TagsField

STAGE_HELP = {"description": "None, Staging, Production or Archived (case-insensitive)"}


class ModelCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    tags = TagsField(load_default=None)


class ModelUpdateSchema(Strict):
    description = fields.String(validate=validate.Length(max=10_000))
    tags = TagsField()


class ModelSchema(Base):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    owner_id = fields.Integer(allow_none=True)
    created_at = fields.Integer()
    updated_at = fields.Integer()
    latest_version = fields.Integer(allow_none=True)
    stages = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Integer()),
        metadata={"description": "versions per stage (None omitted)"},
    )
    aliases = fields.Dict(keys=fields.String(), values=fields.Integer())


ModelPageSchema = page_of(ModelSchema)


class ModelListArgs(ListArgs):
    name = fields.String(load_default=None, metadata={"description": "name filter; * is a wildcard"})


class ModelVersionCreateSchema(Strict):
    run_id = fields.String(required=True, validate=validate.Length(max=32))
    artifact_path = fields.String(
        load_default="",
        validate=validate.Length(max=1000),
        metadata={"description": "a file or folder of the run's artifacts ('' = all)"},
    )
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    metadata = fields.Dict(
        load_default=None,
        metadata={"description": "framework, signature {inputs, outputs}, flavor and any extra keys"},
    )


class ModelVersionUpdateSchema(Strict):
    description = fields.String(required=True, validate=validate.Length(max=10_000))


class FileSchema(Base):
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    download_url = fields.String()


class DatasetRefSchema(Base):
    name = fields.String()
    hash = fields.String()
    context = fields.String()
    dataset_version_id = fields.Integer()


class ModelVersionSchema(Base):
    model = fields.String()
    version = fields.Integer()
    stage = fields.String()
    aliases = fields.List(fields.String())
    run_id = fields.String(allow_none=True)
    artifact_path = fields.String()
    description = fields.String()
    metadata = fields.Dict()
    total_bytes = fields.Integer()
    created_at = fields.Integer()
    updated_at = fields.Integer()


class DeploymentSchema(ModelVersionSchema):
    datasets = fields.List(fields.Nested(DatasetRefSchema))
    files = fields.List(fields.Nested(FileSchema))
    archive_url = fields.String()
    explanation_url = fields.String(
        allow_none=True, metadata={"description": "the version's explanation (null: none recorded)"}
    )
    card_url = fields.String(metadata={"description": "the version's model card (?format=md|json)"})


ModelVersionPageSchema = page_of(ModelVersionSchema)


class ModelVersionListArgs(ListArgs):
    stage = fields.String(load_default=None, metadata=STAGE_HELP)


class AliasSetSchema(Strict):
    version = fields.Integer(required=True, strict=True, validate=int32(1))


class AliasSchema(Base):
    model = fields.String()
    alias = fields.String()
    version = fields.Integer()


class TransitionCreateSchema(Strict):
    to_stage = fields.String(required=True, metadata=STAGE_HELP)
    comment = fields.String(load_default="", validate=validate.Length(max=10_000))
    archive_existing = fields.Boolean(
        load_default=None,
        metadata={
            "description": "archive the current Production version on approval (default: the policy's setting)"
        },
    )


class DecisionSchema(Strict):
    comment = fields.String(load_default="", validate=validate.Length(max=10_000))


class ApprovalSchema(Base):
    user = fields.String()
    comment = fields.String()
    created_at = fields.Integer()


class TransitionRequestSchema(Base):
    id = fields.Integer()
    model = fields.String()
    version = fields.Integer()
    from_stage = fields.String()
    to_stage = fields.String()
    status = fields.String()
    comment = fields.String()
    archive_existing = fields.Boolean()
    required_approvals = fields.Integer()
    approvals = fields.List(fields.Nested(ApprovalSchema))
    requested_by = fields.String()
    created_at = fields.Integer()
    decided_at = fields.Integer(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decision_comment = fields.String()
    explanation_comparison = fields.Dict(
        metadata={
            "description": "GET of one request: the candidate's explanation against the current "
            "Production version's (top features, rank changes, top-10 overlap, spearman, kendall, "
            "large_change); available=false with a reason when either is missing"
        }
    )


TransitionRequestPageSchema = page_of(TransitionRequestSchema)


class TransitionListArgs(ListArgs):
    status = fields.String(
        load_default="pending", validate=validate.OneOf(["pending", "approved", "rejected", "cancelled"])
    )
    model = fields.String(load_default=None)


class PolicySchema(Base):
    model = fields.String(allow_none=True)
    required_approvals = fields.Dict(keys=fields.String(), values=fields.Integer())
    archive_existing_production = fields.Boolean()
    source = fields.String()


class PolicyUpdateSchema(Strict):
    required_approvals = fields.Dict(
        keys=fields.String(), values=fields.Integer(strict=True), load_default=dict
    )
    archive_existing_production = fields.Boolean(load_default=None)


class WebhookCreateSchema(Strict):
    url = fields.String(required=True, validate=validate.Length(max=2000))
    events = fields.List(fields.String(), required=True)
    secret = fields.String(load_default=None, validate=validate.Length(max=200))
    model = fields.String(load_default=None, validate=validate.Length(max=128))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    active = fields.Boolean(load_default=True)


class WebhookUpdateSchema(Strict):
    url = fields.String(validate=validate.Length(max=2000))
    events = fields.List(fields.String())
    secret = fields.String(validate=validate.Length(max=200))
    model = fields.String(allow_none=True, validate=validate.Length(max=128))
    description = fields.String(validate=validate.Length(max=500))
    active = fields.Boolean()


class WebhookSchema(Base):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    model = fields.String(attribute="model_name", allow_none=True)
    description = fields.String()
    active = fields.Boolean()
    created_at = fields.Integer()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "returned only when the webhook is created"})


class DeliverySchema(Base):
    id = fields.Integer()
    event = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.Integer()
    last_attempt_at = fields.Integer(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"description": "short error class; never a body"})
    created_at = fields.Integer()
    delivered_at = fields.Integer(allow_none=True)


DeliveryPageSchema = page_of(DeliverySchema)
WebhookPageSchema = page_of(WebhookSchema)


class GraphSchema(Base):
    root = fields.String()
    nodes = fields.List(fields.Dict())
    edges = fields.List(fields.Dict())
    history = fields.List(fields.Dict())
