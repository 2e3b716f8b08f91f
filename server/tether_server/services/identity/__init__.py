"""Identity: users, roles, API tokens, grants (filtered inside SQL) and the first-start bootstrap."""

from . import bootstrap, permissions, users

__all__ = ["bootstrap", "permissions", "users"]
