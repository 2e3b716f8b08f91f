from __future__ import annotations

from marshmallow import fields, validate

from . import Base, ListArgs, Strict, page_of


class ManifestEntrySchema(Base):
    path = fields.String()
    sha256 = fields.String()
    size = fields.Integer()


class DatasetLogSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=250))
    context = fields.String(
        load_default="training", validate=validate.OneOf(["training", "validation", "evaluation"])
    )
    manifest = fields.List(fields.Dict(), required=True)
    root_hash = fields.String(load_default=None)
    schema = fields.Dict(load_default=None, allow_none=True)
    profile = fields.Dict(load_default=None, allow_none=True)
    source = fields.String(load_default="", validate=validate.Length(max=1000))


class DatasetSchema(Base):
    name = fields.String()
    created_at = fields.Integer()


DatasetPageSchema = page_of(DatasetSchema)


class VersionSchema(Base):
    root_hash = fields.String()
    file_count = fields.Integer()
    total_bytes = fields.Integer()
    schema = fields.Dict(allow_none=True)
    profile = fields.Dict(allow_none=True)
    source = fields.String()
    created_at = fields.Integer()
    created = fields.Boolean()


class VersionDetailSchema(VersionSchema):
    manifest = fields.List(fields.Nested(ManifestEntrySchema))


class VersionListSchema(Base):
    items = fields.List(fields.Nested(VersionSchema))


class RunUseSchema(Base):
    run_id = fields.String()
    experiment_id = fields.Integer()
    context = fields.String()


class RunUseListSchema(Base):
    items = fields.List(fields.Nested(RunUseSchema))


class RunInputSchema(Base):
    context = fields.String()
    name = fields.String()
    root_hash = fields.String()
    file_count = fields.Integer()
    total_bytes = fields.Integer()


class RunInputListSchema(Base):
    items = fields.List(fields.Nested(RunInputSchema))


class DiffArgs(Strict):
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)


class FileChangeSchema(Base):
    path = fields.String()
    from_ = fields.Nested(ManifestEntrySchema, data_key="from")
    to = fields.Nested(ManifestEntrySchema)


class DiffSchema(Base):
    name = fields.String()
    from_ = fields.String(data_key="from")
    to = fields.String()
    added = fields.List(fields.Nested(ManifestEntrySchema))
    removed = fields.List(fields.Nested(ManifestEntrySchema))
    changed = fields.List(fields.Nested(FileChangeSchema))


__all__ = ["ListArgs"]
