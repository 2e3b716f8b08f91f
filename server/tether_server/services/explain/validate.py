"""Checking an explanation body before it is stored: every rule answers a 400 naming the field.

Body::

    {"importances": {feature: number} | [{"feature": str, "importance": number}, ...],
     "method": "permutation" | "shap" | "gain" | "coefficient" | free text,
     "dataset": null | dataset_version_id | {"dataset_version_id"?: int, "name"?: str, "hash"?: str},
     "per_class": null | {class: {feature: number} | [{"feature", "importance"}, ...]}}

JSON objects may repeat a key (the last one silently wins in most parsers), so the API parses the
raw body with ``parse_json`` below, whose objects remember the keys they saw twice; a repeated
feature is then a 400 instead of a silently dropped value. The list form carries no such ambiguity.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ...errors import InvalidArgument

MAX_FEATURES = 10_000
MAX_CLASSES = 1_000
FEATURE_LEN = 250
KNOWN_METHODS = ("permutation", "shap", "gain", "coefficient")


class JSONObject(dict):  # type: ignore[type-arg]
    """A parsed JSON object that remembers keys given more than once (``duplicates``)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> JSONObject:
    obj = JSONObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dupes: dict[str, None] = {}
        for key, _value in pairs:
            if key in seen:
                dupes[key] = None
            seen.add(key)
        obj.duplicates = tuple(dupes)
    return obj


def parse_json(raw: bytes) -> Any:
    """Parse a request body, keeping duplicate keys visible (see ``JSONObject``)."""
    try:
        return json.loads(raw or b"null", object_pairs_hook=_pairs)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"The request body is not valid JSON: {e}", {"field": "body"}) from None


def _bad(field: str, message: str, **details: Any) -> InvalidArgument:
    return InvalidArgument(message, {"field": field, **details})


def _feature(name: Any, field: str) -> str:
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > FEATURE_LEN
        or any(ord(c) < 32 for c in name)
    ):
        raise _bad(field, f"{field}: feature names are 1-{FEATURE_LEN} characters without control characters")
    return name


def _number(value: Any, field: str, feature: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(
            field, f"{field}[{feature!r}] must be a number, not {type(value).__name__}", feature=feature
        )
    out = float(value)
    if not math.isfinite(out):
        raise _bad(field, f"{field}[{feature!r}] must be a finite number (got {value!r})", feature=feature)
    return out


def check_importances(value: Any, field: str = "importances") -> dict[str, float]:
    """``{feature: number}`` or ``[{"feature", "importance"}]`` → a plain dict, or a 400 naming ``field``."""
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"feature", "importance"}:
                raise _bad(field, f'{field}[{i}] must be {{"feature": name, "importance": number}}', index=i)
            items.append((item["feature"], item["importance"]))
    elif isinstance(value, dict):
        dupes = getattr(value, "duplicates", ())
        if dupes:
            raise _bad(
                field, f"{field} names feature {dupes[0]!r} more than once", duplicates=list(dupes[:20])
            )
        items = list(value.items())
    else:
        raise _bad(
            field, f"{field} must be an object {{feature: number}} or a list of {{feature, importance}}"
        )
    if not items:
        raise _bad(field, f"{field} must name at least one feature")
    if len(items) > MAX_FEATURES:
        raise _bad(
            field,
            f"{field} has {len(items)} features; at most {MAX_FEATURES} are accepted",
            limit=MAX_FEATURES,
        )
    out: dict[str, float] = {}
    for name, number in items:
        name = _feature(name, field)
        if name in out:
            raise _bad(field, f"{field} names feature {name!r} more than once", duplicates=[name])
        out[name] = _number(number, field, name)
    return out


def check_method(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise _bad(
            "method",
            f"method is required: one of {', '.join(KNOWN_METHODS)} or a short description (1-100 characters)",
        )
    return value.strip()


def check_dataset(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"dataset_version_id": value}
    if not isinstance(value, dict) or not value or set(value) - {"dataset_version_id", "name", "hash"}:
        raise _bad(
            "dataset", 'dataset must be a dataset version id or {"dataset_version_id"?, "name"?, "hash"?}'
        )
    dv = value.get("dataset_version_id")
    if dv is not None and (isinstance(dv, bool) or not isinstance(dv, int) or not 0 < dv < 2**31):
        raise _bad("dataset", "dataset.dataset_version_id must be a positive integer")
    for key, limit in (("name", 250), ("hash", 128)):
        v = value.get(key)
        if v is not None and (not isinstance(v, str) or not v or len(v) > limit):
            raise _bad("dataset", f"dataset.{key} must be a string of 1-{limit} characters")
    if dv is None and not value.get("hash"):
        raise _bad("dataset", "dataset needs a dataset_version_id or a hash")
    return {k: value[k] for k in ("dataset_version_id", "name", "hash") if value.get(k) is not None}


def check_per_class(value: Any, features: dict[str, float]) -> dict[str, dict[str, float]] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise _bad("per_class", "per_class must be an object {class: {feature: number}}")
    dupes = getattr(value, "duplicates", ())
    if dupes:
        raise _bad("per_class", f"per_class names class {dupes[0]!r} more than once")
    if len(value) > MAX_CLASSES:
        raise _bad("per_class", f"per_class has {len(value)} classes; at most {MAX_CLASSES} are accepted")
    total = 0
    out = {}
    for cls, imps in value.items():
        field = f"per_class[{str(cls)[:100]!r}]"
        out[_feature(cls, "per_class")] = checked = check_importances(imps, field)
        unknown = set(checked) - set(features)
        if unknown:
            raise _bad(field, f"{field} names features missing from importances: {sorted(unknown)[:5]}")
        total += len(checked)
        if total > MAX_FEATURES * 10:
            raise _bad("per_class", f"per_class carries more than {MAX_FEATURES * 10} values in all")
    return out


def check_explanation(body: Any) -> dict[str, Any]:
    """The whole body → ``{importances, method, dataset, per_class}``; 400 naming the field otherwise."""
    if not isinstance(body, dict):
        raise _bad("body", "The body must be a JSON object with importances and method")
    unknown = set(body) - {"importances", "method", "dataset", "per_class"}
    if unknown:
        raise _bad(sorted(unknown)[0], f"Unknown field(s): {', '.join(sorted(unknown))}")
    if "importances" not in body:
        raise _bad("importances", "importances is required: {feature: number}")
    importances = check_importances(body["importances"])
    return {
        "importances": importances,
        "method": check_method(body.get("method")),
        "dataset": check_dataset(body.get("dataset")),
        "per_class": check_per_class(body.get("per_class"), importances),
    }
