"""Compatibility checks: Confluent's corpus, our own cases per draft and keyword, folders."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import SchemaError, check_compatibility, compare_folders
from zeroevents_core.schemas import CompatibilityReport

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("ZEROEVENTS_COMPAT_CORPUS", REPO.parent / "shared" / "compat"))
EXAMPLES = CORPUS / "confluent"


def _corpus() -> list[Any]:
    if not EXAMPLES.is_dir():
        return [
            pytest.param(
                None,
                id="corpus-absent",
                marks=pytest.mark.skip(
                    reason=f"Confluent corpus absent: {EXAMPLES} (set ZEROEVENTS_COMPAT_CORPUS)"
                ),
            )
        ]
    params = []
    for file in sorted(EXAMPLES.glob("diff-*.json")):
        # One upstream file has a trailing comma; strict JSON needs it gone.
        text = re.sub(r",(\s*[}\]])", r"\1", file.read_text())
        for index, example in enumerate(json.loads(text)):
            params.append(pytest.param(example, id=f"{file.stem}-{index}"))
    return params


@pytest.mark.parametrize("example", _corpus())
def test_confluent_corpus_verdict(example: dict[str, Any]) -> None:
    old, new = example["original_schema"], example["update_schema"]
    strict = check_compatibility(old, new, policy="strict")
    assert strict.compatible is example["compatible"], (example["description"], strict.as_dict())
    lenient = check_compatibility(old, new, policy="lenient")
    expected = example.get("compatible_lenient", example["compatible"])
    assert lenient.compatible is expected, (example["description"], lenient.as_dict())


def kinds(report: CompatibilityReport) -> list[str]:
    return [d.kind for d in report.differences]


D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D2019 = "https://json-schema.org/draft/2019-09/schema"


@pytest.mark.parametrize(
    ("old", "new", "kind", "compatible"),
    [
        # draft 4: boolean exclusiveMaximum beside maximum
        (
            {"$schema": D4, "type": "number", "maximum": 10, "exclusiveMaximum": True},
            {"$schema": D4, "type": "number", "maximum": 5, "exclusiveMaximum": True},
            "EXCLUSIVE_MAXIMUM_DECREASED",
            False,
        ),
        (
            {"$schema": D4, "type": "number", "minimum": 0, "exclusiveMinimum": True},
            {"$schema": D4, "type": "number", "minimum": 0},
            "EXCLUSIVE_MINIMUM_REMOVED",
            True,
        ),
        # draft 6: numeric exclusive bounds, const
        (
            {"$schema": D6, "type": "number", "exclusiveMaximum": 5},
            {"$schema": D6, "type": "number", "exclusiveMaximum": 9},
            "EXCLUSIVE_MAXIMUM_INCREASED",
            True,
        ),
        (
            {"$schema": D6, "type": "number", "exclusiveMinimum": 5},
            {"$schema": D6, "type": "number", "exclusiveMinimum": 9},
            "EXCLUSIVE_MINIMUM_INCREASED",
            False,
        ),
        ({"$schema": D6, "const": "a"}, {"$schema": D6, "const": "b"}, "ENUM_ARRAY_CHANGED", False),
        # 2019-09: maxContains, $defs behind $ref
        (
            {"$schema": D2019, "type": "array", "contains": {"type": "string"}, "maxContains": 3},
            {"$schema": D2019, "type": "array", "contains": {"type": "string"}, "maxContains": 2},
            "MAX_CONTAINS_DECREASED",
            False,
        ),
        (
            {"$schema": D2019, "type": "array", "contains": {"type": "string"}, "maxContains": 3},
            {"$schema": D2019, "type": "array", "contains": {"type": "string"}},
            "MAX_CONTAINS_REMOVED",
            True,
        ),
        (
            {
                "$schema": D2019,
                "$defs": {"n": {"type": "string", "maxLength": 5}},
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/n"}},
            },
            {
                "$schema": D2019,
                "$defs": {"n": {"type": "string", "maxLength": 3}},
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/n"}},
            },
            "MAX_LENGTH_DECREASED",
            False,
        ),
        # format: adding or changing one narrows what is accepted, removing widens
        ({"type": "string"}, {"type": "string", "format": "email"}, "FORMAT_ADDED", False),
        (
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            "FORMAT_CHANGED",
            False,
        ),
        ({"type": "string", "format": "uuid"}, {"type": "string"}, "FORMAT_REMOVED", True),
        # draft 7+ exclusive bounds
        (
            {"type": "integer", "exclusiveMaximum": 5},
            {"type": "integer"},
            "EXCLUSIVE_MAXIMUM_REMOVED",
            True,
        ),
        (
            {"type": "integer"},
            {"type": "integer", "exclusiveMinimum": 0},
            "EXCLUSIVE_MINIMUM_ADDED",
            False,
        ),
    ],
)
def test_own_cases(old: Any, new: Any, kind: str, compatible: bool) -> None:
    report = check_compatibility(old, new)
    assert kind in kinds(report), report.as_dict()
    assert report.compatible is compatible, report.as_dict()


@pytest.mark.parametrize(
    ("old", "new", "word"),
    [
        (
            {"if": {"required": ["a"]}, "then": {"required": ["b"]}},
            {"if": {"required": ["a"]}, "then": {"required": ["c"]}},
            "then",
        ),
        (
            {"type": "object", "propertyNames": {"maxLength": 8}},
            {"type": "object", "propertyNames": {"maxLength": 4}},
            "propertyNames",
        ),
    ],
)
def test_undecidable_changes_are_unknown_never_compatible(old: Any, new: Any, word: str) -> None:
    report = check_compatibility(old, new)
    assert report.compatible is None and report.verdict == "unknown"
    unknown = [d for d in report.differences if d.kind == "UNKNOWN"]
    assert unknown and unknown[0].path == f"#/{word}" and word in unknown[0].reason


def test_modes_swap_direction() -> None:
    narrow, wide = {"type": "integer"}, {"type": "number"}
    assert check_compatibility(narrow, wide, "BACKWARD").compatible is True
    assert check_compatibility(narrow, wide, "FORWARD").compatible is False
    assert kinds(check_compatibility(narrow, wide, "FORWARD")) == ["TYPE_NARROWED"]
    assert check_compatibility(narrow, wide, "FULL").compatible is False
    assert check_compatibility(narrow, {"type": "string"}, "NONE").compatible is True


def test_transitive_checks_every_earlier_version() -> None:
    v1 = {"type": "string", "maxLength": 5}
    v2 = {"type": "string", "maxLength": 10}
    v3 = {"type": "string", "maxLength": 8}  # wider than v1, narrower than v2
    assert check_compatibility([v2], v3, "BACKWARD_TRANSITIVE").compatible is False
    assert check_compatibility([v1], v3, "BACKWARD_TRANSITIVE").compatible is True
    assert check_compatibility([v1, v2], v3, "BACKWARD").compatible is False  # latest only: v2
    assert check_compatibility([v2, v1], v3, "BACKWARD").compatible is True
    report = check_compatibility([v1, v2], v3, "BACKWARD_TRANSITIVE")
    assert report.compatible is False
    assert [d.kind for d in report.breaking] == ["MAX_LENGTH_DECREASED"]


def test_bad_mode_and_policy_are_clear_errors() -> None:
    with pytest.raises(SchemaError, match="mode 'SIDEWAYS'"):
        check_compatibility({}, {}, "sideways")
    with pytest.raises(SchemaError, match="policy 'loose'"):
        check_compatibility({}, {}, policy="loose")  # type: ignore[arg-type]


def _write(folder: Path, files: dict[str, Any]) -> Path:
    for name, schema in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema))
    return folder


def test_compare_folders_follows_refs_into_shared_definitions(tmp_path: Path) -> None:
    def folder(name: str, sku_length: int, extra: dict[str, Any]) -> Path:
        return _write(
            tmp_path / name,
            {
                "definitions/item.json": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"sku": {"type": "string", "maxLength": sku_length}},
                },
                "orders.created.json": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"item": {"$ref": "definitions/item.json"}},
                },
                **extra,
            },
        )

    old = folder("old", 10, {"orders.cancelled.json": {"type": "object"}})
    new = folder("new", 4, {"orders.shipped.json": {"type": "object"}})
    report = compare_folders(old, new, "BACKWARD")
    assert report.added == ["orders.shipped"] and report.removed == ["orders.cancelled"]
    assert report.compatible is False
    (diff,) = report.reports["orders.created"].breaking
    assert (diff.kind, diff.path) == (
        "MAX_LENGTH_DECREASED",
        "#/properties/item/properties/sku/maxLength",
    )
    assert compare_folders(new, old, "BACKWARD").compatible is True


def test_compare_folders_walks_a_recursive_ref_across_files_once(tmp_path: Path) -> None:
    # A tree whose node refers to itself through another file: the walk must end,
    # and still see a change below the first level of recursion.
    def folder(name: str, label_length: int) -> Path:
        return _write(
            tmp_path / name,
            {
                "definitions/node.json": {
                    "type": "object",
                    "properties": {
                        "label": {"$ref": "label.json"},
                        "children": {"type": "array", "items": {"$ref": "node.json"}},
                    },
                },
                "definitions/label.json": {"type": "string", "maxLength": label_length},
                "trees.planted.json": {"$ref": "definitions/node.json"},
            },
        )

    old, new = folder("old", 10), folder("new", 4)
    report = compare_folders(old, new, "BACKWARD")
    assert report.compatible is False
    kinds = {diff.kind for diff in report.reports["trees.planted"].breaking}
    assert kinds == {"MAX_LENGTH_DECREASED"}
    assert compare_folders(new, old, "BACKWARD").compatible is True
    assert compare_folders(old, old, "FULL").compatible is True


def test_compare_folders_transitive_uses_name_versions(tmp_path: Path) -> None:
    old = _write(
        tmp_path / "old",
        {
            "orders.created.json": {"type": "string", "maxLength": 5},
            "orders.created.v2.json": {"type": "string", "maxLength": 9},
        },
    )
    new = _write(
        tmp_path / "new",
        {
            "orders.created.json": {"type": "string", "maxLength": 5},
            "orders.created.v2.json": {"type": "string", "maxLength": 3},
        },
    )
    plain = compare_folders(old, new, "FORWARD")
    assert plain.reports["orders.created.v2"].compatible is True
    transitive = compare_folders(old, new, "FORWARD_TRANSITIVE")
    assert transitive.reports["orders.created.v2"].compatible is True
    new_wide = _write(
        tmp_path / "wide", {"orders.created.v2.json": {"type": "string", "maxLength": 7}}
    )
    assert compare_folders(old, new_wide, "BACKWARD").compatible is False
    assert compare_folders(old, new_wide, "FORWARD").compatible is True
    assert compare_folders(old, new_wide, "FORWARD_TRANSITIVE").compatible is False


def test_compare_folders_of_the_example_contracts_with_itself() -> None:
    report = compare_folders(REPO / "examples" / "contracts", REPO / "examples" / "contracts")
    assert report.compatible is True and report.added == [] and report.removed == []
