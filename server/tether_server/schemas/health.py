from __future__ import annotations

from marshmallow import fields

from . import Base


class HealthSchema(Base):
    status = fields.String()
    version = fields.String()


class ReadySchema(Base):
    status = fields.String()
    database = fields.String()
    artifact_store = fields.String(metadata={"description": "the store's kind: local or s3"})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={"description": "per dependency: status (ok/down), detail, ms"},
    )
