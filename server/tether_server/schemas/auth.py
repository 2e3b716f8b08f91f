from __future__ import annotations

from marshmallow import fields, validate

from ..access import ROLE_RANK
from ..models import LEVELS, RESOURCE_TYPES
from . import Base, Strict, int32, int64


class UserCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    role = fields.String(required=True, validate=validate.OneOf(list(ROLE_RANK)))
    password = fields.String(load_default=None, validate=validate.Length(8, 200), load_only=True)
    token_name = fields.String(
        load_default=None,
        validate=validate.Length(1, 100),
        metadata={"description": "also create an API token with this name"},
    )


class UserUpdateSchema(Strict):
    role = fields.String(validate=validate.OneOf(list(ROLE_RANK)))
    active = fields.Boolean()
    password = fields.String(validate=validate.Length(8, 200), load_only=True)


class UserSchema(Base):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    active = fields.Boolean()
    created_at = fields.Integer()
    token = fields.String(metadata={"description": "shown once, on creation with token_name"})


class TokenCreateSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    user_id = fields.Integer(
        load_default=None, validate=int32(), metadata={"description": "admins may create for others"}
    )
    expires_at = fields.Integer(load_default=None, strict=True, validate=int64())
    expires_in_days = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 3650))


class TokenSchema(Base):
    id = fields.Integer()
    user_id = fields.Integer()
    name = fields.String()
    display_prefix = fields.String()
    created_at = fields.Integer()
    expires_at = fields.Integer(allow_none=True)
    last_used_at = fields.Integer(allow_none=True)
    revoked_at = fields.Integer(allow_none=True)
    token = fields.String(metadata={"description": "the secret, shown exactly once on creation"})


class TokenListArgs(Strict):
    user_id = fields.Integer(load_default=None, validate=int32())


_GRANTEE_DOC = "exactly one of user_id, user (name), group_id, group (name)"
_RESOURCE_DOC = 'resource_id ("*" = every resource of the type, admins only) or resource_name'


class _GrantTarget(Strict):
    user_id = fields.Integer(
        load_default=None, strict=True, validate=int32(), metadata={"description": _GRANTEE_DOC}
    )
    user = fields.String(load_default=None, validate=validate.Length(1, 100))
    group_id = fields.Integer(load_default=None, strict=True, validate=int32())
    group = fields.String(load_default=None, validate=validate.Length(1, 100))
    resource_type = fields.String(required=True, validate=validate.OneOf(list(RESOURCE_TYPES)))
    resource_id = fields.String(
        load_default=None, validate=validate.Length(1, 250), metadata={"description": _RESOURCE_DOC}
    )
    resource_name = fields.String(load_default=None, validate=validate.Length(1, 250))


class PermissionSetSchema(_GrantTarget):
    level = fields.String(required=True, validate=validate.OneOf(list(LEVELS)))


class PermissionDeleteArgs(_GrantTarget):
    user_id = fields.Integer(load_default=None, validate=int32())
    group_id = fields.Integer(load_default=None, validate=int32())


class PermissionListArgs(Strict):
    user_id = fields.Integer(load_default=None, validate=int32())
    group_id = fields.Integer(load_default=None, validate=int32())
    resource_type = fields.String(load_default=None, validate=validate.OneOf(list(RESOURCE_TYPES)))
    resource_id = fields.String(load_default=None)


class PermissionSchema(Base):
    id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    group_id = fields.Integer(allow_none=True)
    resource_type = fields.String()
    resource_id = fields.String()
    level = fields.String()
    created_at = fields.Integer()


class AuditArgs(Strict):
    model = fields.String(load_default=None)
    action = fields.String(load_default=None)
    actor = fields.String(load_default=None)
    since = fields.Integer(load_default=None, validate=int64())
    max_results = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    page_token = fields.String(load_default=None)


class AuditEventSchema(Base):
    id = fields.Integer()
    ts = fields.Integer()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    resource_type = fields.String()
    resource_id = fields.String()
    model_name = fields.String(allow_none=True)
    from_value = fields.String(allow_none=True)
    to_value = fields.String(allow_none=True)
    comment = fields.String()
    details = fields.Dict()
    request_id = fields.String()


class AuditPageSchema(Base):
    items = fields.List(fields.Nested(AuditEventSchema))
    next_page_token = fields.String(allow_none=True)
