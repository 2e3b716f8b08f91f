"""marshmallow schemas, one module per resource."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields


class Base(Schema):
    class Meta:
        unknown = EXCLUDE
        ordered = True


class Strict(Schema):
    """Input schema: unknown fields are an error (catches typos in clients)."""

    class Meta:
        ordered = True


class ListArgs(Strict):
    max_results = fields.Integer(load_default=100, validate=lambda n: 1 <= n <= 1000,
                                 metadata={"description": "page size, 1-1000"})
    page_token = fields.String(load_default=None)


class ErrorSchema(Base):
    error = fields.Dict()


def page_of(item: type[Schema]) -> type[Schema]:
    """``{"items": [...], "next_page_token": str|null}`` for an item schema."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return Base.from_dict({"items": fields.List(fields.Nested(item)),
                           "next_page_token": fields.String(allow_none=True)}, name=name)
