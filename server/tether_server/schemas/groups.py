from __future__ import annotations

from marshmallow import fields, validate

from . import Base, Strict


class GroupCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(load_default="", validate=validate.Length(0, 500))


class GroupSchema(Base):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    created_at = fields.Integer()
    members = fields.List(fields.String(), metadata={"description": "user names"})
