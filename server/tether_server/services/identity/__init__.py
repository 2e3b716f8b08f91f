"""Identity: users, roles, API tokens, grants (filtered inside SQL) and the first-start bootstrap."""

from . import bootstrap, groups, permissions, users

__all__ = ["bootstrap", "groups", "permissions", "users"]
