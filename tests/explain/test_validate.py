"""Body rules: finite numbers, no duplicate features (also as repeated JSON keys), at most 10,000."""

from __future__ import annotations

import json

import pytest

from tether_server.errors import InvalidArgument
from tether_server.services.explain.validate import MAX_FEATURES, check_explanation, parse_json


def _err(raw: str | dict) -> InvalidArgument:
    body = parse_json(raw.encode()) if isinstance(raw, str) else raw
    with pytest.raises(InvalidArgument) as e:
        check_explanation(body)
    return e.value


def test_duplicate_keys_in_raw_json_are_seen():
    e = _err('{"importances": {"age": 1, "age": 2}, "method": "shap"}')
    assert e.details["field"] == "importances" and "age" in e.message


def test_duplicate_in_list_form_and_per_class():
    e = _err(
        {"importances": [{"feature": "a", "importance": 1}, {"feature": "a", "importance": 2}], "method": "x"}
    )
    assert e.details["field"] == "importances"
    e = _err('{"importances": {"a": 1}, "method": "x", "per_class": {"yes": {"a": 1, "a": 2}}}')
    assert e.details["field"].startswith("per_class")


@pytest.mark.parametrize(
    "raw,field",
    [
        ('{"importances": {"a": NaN}, "method": "shap"}', "importances"),
        ('{"importances": {"a": Infinity}, "method": "shap"}', "importances"),
        ('{"importances": {"a": "NaN"}, "method": "shap"}', "importances"),
        ('{"importances": {"a": true}, "method": "shap"}', "importances"),
        ('{"importances": {}, "method": "shap"}', "importances"),
        ('{"importances": {"a": 1}}', "method"),
        ('{"importances": {"a": 1}, "method": ""}', "method"),
        ('{"method": "shap"}', "importances"),
        ('{"importances": {"a": 1}, "method": "shap", "dataset": "x"}', "dataset"),
        ('{"importances": {"a": 1}, "method": "shap", "per_class": {"c": {"b": 1}}}', "per_class['c']"),
        ('{"importances": {"a": 1}, "method": "shap", "extra": 1}', "extra"),
        ('{"importances": {"": 1}, "method": "shap"}', "importances"),
        ("[1, 2]", "body"),
        ("{not json", "body"),
    ],
)
def test_bad_bodies_name_their_field(raw, field):
    with pytest.raises(InvalidArgument) as e:
        check_explanation(parse_json(raw.encode()))
    assert e.value.details["field"] == field


def test_feature_limit():
    ok = {"importances": {f"f{i}": 1.0 for i in range(MAX_FEATURES)}, "method": "gain"}
    assert len(check_explanation(parse_json(json.dumps(ok).encode()))["importances"]) == MAX_FEATURES
    too_many = {"importances": {f"f{i}": 1.0 for i in range(MAX_FEATURES + 1)}, "method": "gain"}
    assert _err(too_many).details["limit"] == MAX_FEATURES


def test_list_form_and_dataset_forms():
    out = check_explanation(
        {
            "importances": [{"feature": "a", "importance": 2}, {"feature": "b", "importance": -1.5}],
            "method": "coefficient",
            "dataset": 7,
        }
    )
    assert out["importances"] == {"a": 2.0, "b": -1.5} and out["dataset"] == {"dataset_version_id": 7}
    out = check_explanation(
        {"importances": {"a": 1}, "method": "shap", "dataset": {"name": "d", "hash": "ab" * 32}}
    )
    assert out["dataset"] == {"name": "d", "hash": "ab" * 32}
