"""Registered models and their immutable versions, aliases and stage moves, one module per resource:
``names`` (the name, alias and stage rules), ``models``, ``versions`` (registration copies the
files; see there) and ``stages`` (stage moves and aliases). Callers use ``catalog.<name>``; every
public name is re-exported here. (``registry.versions`` is the MLflow layer's extra version reads.)
"""

from .models import (
    create_model,
    delete_model,
    get_model,
    list_models,
    lock_model,
    model_summaries,
    update_model,
)
from .names import ALIAS_RE, NAME_RE, canonical_stage, check_alias, check_name
from .stages import apply_stage, delete_alias, set_alias
from .versions import (
    StagedFiles,
    aliases_of,
    create_version,
    delete_version,
    get_version,
    list_versions,
    stage_files,
    update_version,
    version_count,
)

__all__ = [
    "ALIAS_RE",
    "NAME_RE",
    "StagedFiles",
    "aliases_of",
    "apply_stage",
    "canonical_stage",
    "check_alias",
    "check_name",
    "create_model",
    "create_version",
    "delete_alias",
    "delete_model",
    "delete_version",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "lock_model",
    "model_summaries",
    "set_alias",
    "stage_files",
    "update_model",
    "update_version",
    "version_count",
]
