from __future__ import annotations

from marshmallow import fields, validate

from . import Base, ListArgs, Strict


class TagsField(fields.Dict):
    def __init__(self, **kw):  # type: ignore[no-untyped-def]
        super().__init__(keys=fields.String(), values=fields.Raw(), **kw)


class ExperimentCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 250))
    description = fields.String(load_default="", validate=validate.Length(max=100_000))
    tags = TagsField(load_default=None)


class ExperimentUpdateSchema(Strict):
    name = fields.String(validate=validate.Length(1, 250))
    description = fields.String(validate=validate.Length(max=100_000))
    tags = TagsField()
    lifecycle = fields.String(validate=validate.OneOf(["active", "deleted"]))


class ExperimentListArgs(ListArgs):
    name = fields.String(load_default=None)
    lifecycle = fields.String(load_default="active", validate=validate.OneOf(["active", "deleted", "all"]))


class ExperimentSchema(Base):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    lifecycle = fields.String()
    tags = fields.Method("_tags")
    created_by = fields.Integer(allow_none=True)
    created_at = fields.Integer()
    updated_at = fields.Integer()

    def _tags(self, obj):  # type: ignore[no-untyped-def]
        return {t.key: t.value for t in obj.tags}


class ExperimentPageSchema(Base):
    items = fields.List(fields.Nested(ExperimentSchema))
    next_page_token = fields.String(allow_none=True)
