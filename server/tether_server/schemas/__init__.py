"""marshmallow schemas, one module per resource."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

# Integer inputs are bounded by the column they meet: ids and versions are INTEGER (32-bit), times BIGINT.
# A larger value is a 400 here instead of a driver overflow (SQLite's OverflowError, PostgreSQL's
# "out of range") that surfaced as a 500.
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1


def int32(lo: int = -INT32_MAX - 1) -> validate.Range:
    """For an id or a version: ``lo`` up to 2**31 - 1."""
    return validate.Range(min=lo, max=INT32_MAX)


def int64(lo: int = -INT64_MAX - 1) -> validate.Range:
    """For an epoch-ms time: ``lo`` up to 2**63 - 1."""
    return validate.Range(min=lo, max=INT64_MAX)


class Base(Schema):
    class Meta:
        unknown = EXCLUDE
        ordered = True


class Strict(Schema):
    """Input schema: unknown fields are an error (catches typos in clients)."""

    class Meta:
        ordered = True


class ListArgs(Strict):
    # a validator must raise (marshmallow 4 ignores a False return): 0 or -1 used to reach the services
    max_results = fields.Integer(
        load_default=100, validate=validate.Range(1, 1000), metadata={"description": "page size, 1-1000"}
    )
    page_token = fields.String(load_default=None)


class ErrorSchema(Base):
    error = fields.Dict()


def page_of(item: type[Schema]) -> type[Schema]:
    """``{"items": [...], "next_page_token": str|null}`` for an item schema."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return Base.from_dict(
        {"items": fields.List(fields.Nested(item)), "next_page_token": fields.String(allow_none=True)},
        name=name,
    )
