"""marshmallow schemas, one module per resource: each response and request body is defined once here."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from .dump import compiled

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
    """Output schema: the one definition of a response body, for the OpenAPI document and the wire.

    ``dump`` runs the dict builder compiled from the declared fields (``schemas.dump``), so a hot path
    needs no hand-written serializer: return the data and let ``@blp.response(..., Schema)`` dump it.
    """

    class Meta:
        unknown = EXCLUDE
        ordered = True

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if self.only is not None or self.exclude:
            return super().dump(obj, many=many)
        fn = compiled(type(self))
        return [fn(o) for o in obj] if (self.many if many is None else many) else fn(obj)


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


class ErrorDetailSchema(Base):
    code = fields.String(required=True, metadata={"description": "stable symbol, e.g. NOT_FOUND"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorSchema(Base):
    """Every non-2xx body: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorDetailSchema, required=True)


def page_of(item: type[Schema]) -> type[Schema]:
    """``{"items": [...], "next_page_token": str|null}`` for an item schema."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return Base.from_dict(
        {"items": fields.List(fields.Nested(item)), "next_page_token": fields.String(allow_none=True)},
        name=name,
    )
