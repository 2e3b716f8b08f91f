from __future__ import annotations

from marshmallow import fields, validate

from . import Base, ListArgs, Strict, page_of

SHA256 = validate.Regexp(r"^[0-9a-fA-F]{64}$", error="sha256 must be 64 hex digits")


class ArtifactSchema(Base):
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    content_type = fields.String()
    mtime = fields.Function(lambda a: a.created_at, metadata={"description": "epoch ms when recorded"})


ArtifactPageSchema = page_of(ArtifactSchema)


class ArtifactListArgs(ListArgs):
    prefix = fields.String(load_default="")


class UploadCreateSchema(Strict):
    path = fields.String(required=True)
    size = fields.Integer(required=True, validate=validate.Range(min=0, max=5 * 1024**4))
    sha256 = fields.String(required=True, validate=SHA256)
    part_size = fields.Integer(load_default=None, validate=validate.Range(min=1))
    content_type = fields.String(load_default=None, validate=validate.Length(max=200))


class UploadPartSchema(Base):
    part_number = fields.Integer()
    url = fields.String()


class UploadSchema(Base):
    upload_id = fields.String()
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    part_size = fields.Integer()
    part_count = fields.Integer()
    status = fields.String()
    mode = fields.String(
        metadata={
            "description": "direct: PUT parts to the presigned URLs; proxy: PUT "
            "them to .../uploads/{id}/parts/{n}"
        }
    )
    expires_in = fields.Integer()
    parts_done = fields.List(fields.Integer())
    parts = fields.List(fields.Nested(UploadPartSchema))
    artifact = fields.Nested(ArtifactSchema, allow_none=True)


class DownloadRequestSchema(Strict):
    path = fields.String(required=True)


class DownloadSchema(Base):
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    mode = fields.String()
    url = fields.String(allow_none=True)
    expires_in = fields.Integer(allow_none=True)
