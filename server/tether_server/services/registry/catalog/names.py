"""The registry's name rules: model names, aliases, and stage names (matched case-insensitively)."""

from __future__ import annotations

import re
from typing import Any

from ....errors import InvalidArgument
from ....models.registry import STAGES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_STAGE_BY_LOWER = {s.lower(): s for s in STAGES}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument(
            "Model names are 1-128 characters of letters, digits, '_', '-' and '.', starting "
            "with a letter or digit",
            {"field": "name"},
        )
    return name


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias.lower() in _STAGE_BY_LOWER:
        raise InvalidArgument(
            "Aliases are 1-64 characters of letters, digits, '_' and '-', starting with a "
            "letter, and are not stage names",
            {"field": "alias"},
        )
    return alias


def canonical_stage(stage: Any) -> str:
    found = _STAGE_BY_LOWER.get(str(stage).lower()) if isinstance(stage, str) else None
    if found is None:
        raise InvalidArgument(f"stage must be one of {list(STAGES)} (case-insensitive)", {"field": "stage"})
    return found
