"""Offline compatibility checks between two JSON Schemas.

The rules follow Confluent Schema Registry's JSON Schema diff: a walk over
``old`` (the writer) and ``new`` (the reader) that names each difference after
Confluent's ``Difference`` types, then a verdict from the policy's set of
allowed changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, get_args

from ..errors import SchemaError

Mode = Literal[
    "BACKWARD",
    "FORWARD",
    "FULL",
    "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE",
    "FULL_TRANSITIVE",
    "NONE",
]
Policy = Literal["strict", "lenient"]
MODES: tuple[str, ...] = get_args(Mode)

COMPATIBLE_STRICT = frozenset(
    [
        "ID_CHANGED",
        "DESCRIPTION_CHANGED",
        "TITLE_CHANGED",
        "DEFAULT_CHANGED",
        "SCHEMA_REMOVED",
        "TYPE_EXTENDED",
        "MAX_LENGTH_INCREASED",
        "MAX_LENGTH_REMOVED",
        "MIN_LENGTH_DECREASED",
        "MIN_LENGTH_REMOVED",
        "PATTERN_REMOVED",
        "MAXIMUM_INCREASED",
        "MAXIMUM_REMOVED",
        "MINIMUM_DECREASED",
        "MINIMUM_REMOVED",
        "EXCLUSIVE_MAXIMUM_INCREASED",
        "EXCLUSIVE_MAXIMUM_REMOVED",
        "EXCLUSIVE_MINIMUM_DECREASED",
        "EXCLUSIVE_MINIMUM_REMOVED",
        "MULTIPLE_OF_REDUCED",
        "MULTIPLE_OF_REMOVED",
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
        "REQUIRED_ATTRIBUTE_REMOVED",
        "DEPENDENCY_ARRAY_NARROWED",
        "DEPENDENCY_ARRAY_REMOVED",
        "DEPENDENCY_SCHEMA_REMOVED",
        "MAX_PROPERTIES_INCREASED",
        "MAX_PROPERTIES_REMOVED",
        "MIN_PROPERTIES_DECREASED",
        "MIN_PROPERTIES_REMOVED",
        "ADDITIONAL_PROPERTIES_ADDED",
        "ADDITIONAL_PROPERTIES_EXTENDED",
        "UNEVALUATED_PROPERTIES_ADDED",
        "UNEVALUATED_PROPERTIES_EXTENDED",
        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
        "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "MAX_ITEMS_INCREASED",
        "MAX_ITEMS_REMOVED",
        "MIN_ITEMS_DECREASED",
        "MIN_ITEMS_REMOVED",
        "MAX_CONTAINS_INCREASED",
        "MAX_CONTAINS_REMOVED",
        "MIN_CONTAINS_DECREASED",
        "MIN_CONTAINS_REMOVED",
        "UNIQUE_ITEMS_REMOVED",
        "ADDITIONAL_ITEMS_ADDED",
        "ADDITIONAL_ITEMS_EXTENDED",
        "UNEVALUATED_ITEMS_ADDED",
        "UNEVALUATED_ITEMS_EXTENDED",
        "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
        "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
        "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "ENUM_ARRAY_EXTENDED",
        "COMBINED_TYPE_EXTENDED",
        "PRODUCT_TYPE_NARROWED",
        "SUM_TYPE_EXTENDED",
        "NOT_TYPE_NARROWED",
        "FORMAT_REMOVED",
    ]
)
COMPATIBLE_LENIENT = COMPATIBLE_STRICT | frozenset(
    [
        "ADDITIONAL_PROPERTIES_NARROWED",
        "ADDITIONAL_PROPERTIES_REMOVED",
        "UNEVALUATED_PROPERTIES_NARROWED",
        "UNEVALUATED_PROPERTIES_REMOVED",
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
        "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    ]
)
# Kinds this module adds for keywords Confluent does not compare; "UNKNOWN" marks
# a change the walk cannot decide (if/then/else, propertyNames, ...).
UNKNOWN = "UNKNOWN"

_ANNOTATIONS = {"$id": "ID", "id": "ID", "title": "TITLE", "description": "DESCRIPTION"}
_ANNOTATION_ONLY = {
    "$id", "id", "$schema", "title", "description", "default", "examples",
    "$comment", "definitions", "$defs", "readOnly", "writeOnly", "deprecated",
}  # fmt: skip
_COMBINATORS = ("allOf", "anyOf", "oneOf")
_UNDECIDED = ("if", "then", "else", "propertyNames", "contentSchema")


@dataclass(frozen=True)
class Difference:
    """One change between the old and the new schema."""

    kind: str
    path: str
    breaks: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "breaks": self.breaks}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class CompatibilityReport:
    """The verdict of one check: ``compatible`` is True, False or None (unknown)."""

    mode: str
    policy: str
    differences: list[Difference] = field(default_factory=list)
    name: str | None = None

    @property
    def breaking(self) -> list[Difference]:
        return [d for d in self.differences if d.breaks]

    @property
    def compatible(self) -> bool | None:
        if self.breaking:
            return False
        if any(d.kind == UNKNOWN for d in self.differences):
            return None
        return True

    @property
    def verdict(self) -> str:
        return {True: "compatible", False: "incompatible", None: "unknown"}[self.compatible]

    def __bool__(self) -> bool:
        return self.compatible is True

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "policy": self.policy,
            "verdict": self.verdict,
            "differences": [d.as_dict() for d in self.differences],
        }


class _Walk:
    """Diff of one (writer, reader) pair; ``allowed`` decides nested verdicts."""

    def __init__(self, old_root: Any, new_root: Any, allowed: frozenset[str]) -> None:
        self.roots = (old_root, new_root)
        self.allowed = allowed
        self.stack: set[tuple[int, int]] = set()

    def ok(self, diffs: list[tuple[str, str, str]]) -> bool:
        return all(kind in self.allowed for kind, _, _ in diffs)

    def resolve(self, schema: Any, side: int) -> Any:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if not ref.startswith("#"):
                raise SchemaError(f"cannot resolve $ref {ref!r}: only local references")
            target: Any = self.roots[side]
            for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise SchemaError(f"cannot resolve $ref {ref!r}: no {part!r}")
                target = target[part]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if rest and isinstance(target, dict) else target
            seen += 1
            if seen > 64:
                raise SchemaError(f"$ref loop at {ref!r}")
        return schema

    def diff(self, old: Any, new: Any, path: str) -> list[tuple[str, str, str]]:
        old, new = self.resolve(old, 0), self.resolve(new, 1)
        key = (id(old), id(new))
        if key in self.stack:
            return []
        self.stack.add(key)
        try:
            return self._diff(old, new, path)
        finally:
            self.stack.discard(key)

    def _diff(self, old: Any, new: Any, path: str) -> list[tuple[str, str, str]]:
        if old is False or _is_empty(new):
            return []
        if old is True or new is False or _is_empty(old):
            return [("TYPE_CHANGED", path, "")]
        old, new = _split_types(old), _split_types(new)
        out: list[tuple[str, str, str]] = []
        for key, name in _ANNOTATIONS.items():
            if old.get(key) != new.get(key) and not (key == "id" and "$id" in old):
                out.append((f"{name}_CHANGED", path + key, ""))
        if old.get("default") != new.get("default"):
            out.append(("DEFAULT_CHANGED", path + "default", ""))
        old_c, new_c = _combinator(old), _combinator(new)
        if old_c or new_c:
            return out + self._combined(old, new, old_c, new_c, path)
        if "not" in old or "not" in new:
            if "not" in old and "not" in new:
                inner = self.diff(new["not"], old["not"], path + "not/")
                kind = "NOT_TYPE_NARROWED" if self.ok(inner) else "NOT_TYPE_EXTENDED"
                return [*out, (kind, path + "not", "")]
            return [*out, ("TYPE_CHANGED", path, "")]
        for word in _UNDECIDED:
            if old.get(word) != new.get(word):
                out.append((UNKNOWN, path + word, f"a change to {word!r} is not decided"))
        if old.get("const", _MISSING) != new.get("const", _MISSING):
            out.append(("ENUM_ARRAY_CHANGED", path + "const", ""))
        if "enum" in old or "enum" in new:
            out += _enum(old.get("enum"), new.get("enum"), path)
        old_t, new_t = _kind(old), _kind(new)
        if old_t != new_t:
            if old_t is None and new_t is not None and ("enum" in old or "const" in old):
                return out
            if (old_t, new_t) == ("integer", "number"):
                out.append(("TYPE_EXTENDED", path, ""))
            elif (old_t, new_t) == ("number", "integer"):
                return [*out, ("TYPE_NARROWED", path, "")]
            elif new_t is None and ("enum" in new or "const" in new):
                return out
            else:
                return [*out, ("TYPE_CHANGED", path, "")]
        if "format" in old or "format" in new:
            out += _format(old.get("format"), new.get("format"), path)
        if new_t == "string":
            out += _bound(old, new, "maxLength", "MAX_LENGTH", path, upper=True)
            out += _bound(old, new, "minLength", "MIN_LENGTH", path, upper=False)
            if old.get("pattern") != new.get("pattern"):
                kind = (
                    "ADDED"
                    if "pattern" not in old
                    else "REMOVED"
                    if "pattern" not in new
                    else "CHANGED"
                )
                out.append((f"PATTERN_{kind}", path + "pattern", ""))
        elif new_t in ("number", "integer"):
            out += _bound(old, new, "maximum", "MAXIMUM", path, upper=True)
            out += _bound(old, new, "minimum", "MINIMUM", path, upper=False)
            out += _exclusive(old, new, path)
            out += _multiple_of(old.get("multipleOf"), new.get("multipleOf"), path)
        elif new_t == "object":
            out += self._object(old, new, path)
        elif new_t == "array":
            out += self._array(old, new, path)
        return out

    def _object(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        for name in new_props.keys() & old_props.keys():
            sub = f"{path}properties/{name}"
            out += self.diff(old_props[name], new_props[name], sub + "/")
            if name in new_req and name not in old_req:
                has_default = isinstance(new_props[name], dict) and "default" in new_props[name]
                kind = (
                    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                    if has_default
                    else "REQUIRED_ATTRIBUTE_ADDED"
                )
                out.append((kind, sub, ""))
            elif name in old_req and name not in new_req:
                out.append(("REQUIRED_ATTRIBUTE_REMOVED", sub, ""))
        for name in old_props.keys() - new_props.keys():
            sub = f"{path}properties/{name}"
            cover = _covering(new, name)
            if _is_open(new):
                out.append(("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", sub, ""))
            elif cover is not None:
                inner = self.diff(old_props[name], cover, sub + "/")
                out += inner
                state = "IS" if self.ok(inner) else "NOT"
                out.append(
                    (f"PROPERTY_REMOVED_{state}_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", sub, "")
                )
            elif old_props[name] is False:
                out.append(("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", sub, ""))
            else:
                out.append(("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", sub, ""))
        for name in new_props.keys() - old_props.keys():
            sub = f"{path}properties/{name}"
            schema = new_props[name]
            required, has_default = (
                name in new_req,
                isinstance(schema, dict) and "default" in schema,
            )
            if _is_open(old):
                if _is_empty(schema):
                    kind = "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                elif required:
                    kind = (
                        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
                        if has_default
                        else "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
                    )
                else:
                    kind = "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
                out.append((kind, sub, ""))
                continue
            cover = _covering(old, name)
            if cover is not None:
                inner = self.diff(cover, schema, sub + "/")
                out += inner
                state = "IS" if self.ok(inner) else "NOT"
                out.append(
                    (f"PROPERTY_ADDED_{state}_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", sub, "")
                )
            if required:
                kind = (
                    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
                    if has_default
                    else "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
                )
            else:
                kind = "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
            out.append((kind, sub, ""))
        out += self._dependencies(old, new, path)
        out += self._extra(
            old, new, "additionalProperties", "ADDITIONAL_PROPERTIES", path, lenient_absent=False
        )
        out += self._extra(
            old, new, "unevaluatedProperties", "UNEVALUATED_PROPERTIES", path, lenient_absent=True
        )
        out += _bound(old, new, "maxProperties", "MAX_PROPERTIES", path, upper=True)
        out += _bound(old, new, "minProperties", "MIN_PROPERTIES", path, upper=False)
        return out

    def _dependencies(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[tuple[str, str, str]]:
        def split(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            arrays = dict(schema.get("dependentRequired", {}))
            schemas = dict(schema.get("dependentSchemas", {}))
            for key, value in schema.get("dependencies", {}).items():
                (arrays if isinstance(value, list) else schemas)[key] = value
            return arrays, schemas

        (old_a, old_s), (new_a, new_s) = split(old), split(new)
        out: list[tuple[str, str, str]] = []
        for key in old_a.keys() | new_a.keys():
            sub = f"{path}dependencies/{key}"
            if key not in new_a:
                out.append(("DEPENDENCY_ARRAY_REMOVED", sub, ""))
            elif key not in old_a:
                out.append(("DEPENDENCY_ARRAY_ADDED", sub, ""))
            elif set(old_a[key]) != set(new_a[key]):
                o, n = set(old_a[key]), set(new_a[key])
                kind = "EXTENDED" if n > o else "NARROWED" if n < o else "CHANGED"
                out.append((f"DEPENDENCY_ARRAY_{kind}", sub, ""))
        for key in old_s.keys() | new_s.keys():
            sub = f"{path}dependencies/{key}"
            if key not in new_s:
                out.append(("DEPENDENCY_SCHEMA_REMOVED", sub, ""))
            elif key not in old_s:
                out.append(("DEPENDENCY_SCHEMA_ADDED", sub, ""))
            else:
                out += self.diff(old_s[key], new_s[key], sub + "/")
        return out

    def _extra(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        word: str,
        name: str,
        path: str,
        *,
        lenient_absent: bool,
    ) -> list[tuple[str, str, str]]:
        o, n = old.get(word, True), new.get(word, True)
        if lenient_absent and word not in old and n is True and word in new:
            return [(f"{name}_NARROWED", path + word, "")]
        if o is False and n is False:
            return []
        if o is False:
            return [(f"{name}_ADDED", path + word, "")]
        if n is False:
            return [(f"{name}_REMOVED", path + word, "")]
        if o is True and n is True:
            return []
        if o is True:
            return [(f"{name}_NARROWED", path + word, "")]
        if n is True:
            return [(f"{name}_EXTENDED", path + word, "")]
        return self.diff(o, n, f"{path}{word}/")

    def _array(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        out += _bound(old, new, "maxItems", "MAX_ITEMS", path, upper=True)
        out += _bound(old, new, "minItems", "MIN_ITEMS", path, upper=False)
        if old.get("uniqueItems", False) != new.get("uniqueItems", False):
            kind = "UNIQUE_ITEMS_ADDED" if new.get("uniqueItems") else "UNIQUE_ITEMS_REMOVED"
            out.append((kind, path + "uniqueItems", ""))
        old_tuple, old_rest = _tuple(old)
        new_tuple, new_rest = _tuple(new)
        if old_tuple is not None or new_tuple is not None:
            old_list, new_list = old_tuple or [], new_tuple or []
            for index in range(min(len(old_list), len(new_list))):
                out += self.diff(old_list[index], new_list[index], f"{path}items/{index}/")
            for index in range(len(new_list), len(old_list)):
                sub = f"{path}items/{index}"
                if new_rest is True:
                    out.append(("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", sub, ""))
                elif new_rest is False:
                    kind = (
                        "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
                        if old_list[index] is False
                        else "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"
                    )
                    out.append((kind, sub, ""))
                else:
                    inner = self.diff(old_list[index], new_rest, sub + "/")
                    out += inner
                    state = "IS" if self.ok(inner) else "NOT"
                    out.append(
                        (f"ITEM_REMOVED_{state}_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", sub, "")
                    )
            for index in range(len(old_list), len(new_list)):
                sub = f"{path}items/{index}"
                if old_rest is True:
                    kind = (
                        "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                        if _is_empty(new_list[index])
                        else "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
                    )
                    out.append((kind, sub, ""))
                elif old_rest is False:
                    out.append(("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", sub, ""))
                else:
                    inner = self.diff(old_rest, new_list[index], sub + "/")
                    out += inner
                    state = "IS" if self.ok(inner) else "NOT"
                    out.append(
                        (f"ITEM_ADDED_{state}_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", sub, "")
                    )
            out += self._rest(old_rest, new_rest, path + "additionalItems")
        else:
            o, n = old.get("items"), new.get("items")
            if o is None and n is not None:
                out.append(("SCHEMA_ADDED", path + "items", ""))
            elif o is not None and n is None:
                out.append(("SCHEMA_REMOVED", path + "items", ""))
            elif o is not None:
                out += self.diff(o, n, path + "items/")
            if "additionalItems" in old or "additionalItems" in new:
                o, n = old.get("additionalItems", True), new.get("additionalItems", True)
                out += self._rest(o, n, path + "additionalItems")
        out += self._unevaluated_items(old, new, path)
        if "contains" in old or "contains" in new:
            o, n = old.get("contains"), new.get("contains")
            if o is None:
                out.append(("SCHEMA_ADDED", path + "contains", ""))
            elif n is None:
                out.append(("SCHEMA_REMOVED", path + "contains", ""))
            else:
                out += self.diff(o, n, path + "contains/")
        out += _bound(old, new, "maxContains", "MAX_CONTAINS", path, upper=True)
        out += _bound(old, new, "minContains", "MIN_CONTAINS", path, upper=False)
        return out

    def _rest(self, o: Any, n: Any, path: str) -> list[tuple[str, str, str]]:
        if o == n:
            return []
        if o is False:
            return [("ADDITIONAL_ITEMS_ADDED", path, "")]
        if n is False:
            return [("ADDITIONAL_ITEMS_REMOVED", path, "")]
        if o is True:
            return [("ADDITIONAL_ITEMS_NARROWED", path, "")]
        if n is True:
            return [("ADDITIONAL_ITEMS_EXTENDED", path, "")]
        return self.diff(o, n, path + "/")

    def _unevaluated_items(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[tuple[str, str, str]]:
        word = "unevaluatedItems"
        if word not in old and word not in new:
            return []
        o, n = old.get(word, True), new.get(word, True)
        if o == n:
            return []
        if o is False:
            kind = "ADDED"
        elif n is False:
            kind = "REMOVED"
        elif o is True:
            kind = "NARROWED"
        elif n is True:
            kind = "EXTENDED"
        else:
            return self.diff(o, n, f"{path}{word}/")
        return [(f"UNEVALUATED_ITEMS_{kind}", path + word, "")]

    def _combined(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        old_c: str | None,
        new_c: str | None,
        path: str,
    ) -> list[tuple[str, str, str]]:
        if old_c and new_c:
            old_m, new_m = _dedupe(old[old_c]), _dedupe(new[new_c])
            out: list[tuple[str, str, str]] = []
            if old_c != new_c:
                extended = (
                    new_c == "anyOf"
                    or (len(old_m) == 1 and len(new_m) == 1)
                    or (len(old_m) == 1 and new_c == "oneOf")
                    or (len(new_m) == 1 and old_c == "allOf")
                )
                if not extended:
                    return [("COMBINED_TYPE_CHANGED", path, "")]
                out.append(("COMBINED_TYPE_EXTENDED", path, ""))
            if len(new_m) > len(old_m):
                out.append(
                    ("PRODUCT_TYPE_EXTENDED" if new_c == "allOf" else "SUM_TYPE_EXTENDED", path, "")
                )
            elif len(new_m) < len(old_m):
                out.append(
                    (
                        "SUM_TYPE_NARROWED"
                        if old_c in ("anyOf", "oneOf")
                        else "PRODUCT_TYPE_NARROWED",
                        path,
                        "",
                    )
                )
            pairs: dict[tuple[int, int], list[tuple[str, str, str]]] = {}
            for i, o in enumerate(old_m):
                for j, n in enumerate(new_m):
                    inner = self.diff(o, n, f"{path}{new_c}/{j}/")
                    if self.ok(inner):
                        pairs[(i, j)] = inner
            matching = _match(len(old_m), len(new_m), set(pairs))
            for edge in sorted(matching):
                out += pairs[edge]
            if len(matching) < min(len(old_m), len(new_m)):
                out.append(("COMBINED_TYPE_SUBSCHEMAS_CHANGED", path, ""))
            return out
        if new_c:
            members = _dedupe(new[new_c])
            if len(members) == 1:
                return self.diff(old, members[0], f"{path}{new_c}/0/")
            if new_c in ("anyOf", "oneOf"):
                for j, member in enumerate(members):
                    inner = self.diff(old, member, f"{path}{new_c}/{j}/")
                    if self.ok(inner):
                        return [*inner, ("SUM_TYPE_EXTENDED", path, "")]
            return [("TYPE_CHANGED", path, "")]
        assert old_c
        members = _dedupe(old[old_c])
        if len(members) == 1:
            return self.diff(members[0], new, path)
        if old_c == "allOf":
            for member in members:
                inner = self.diff(member, new, path)
                if self.ok(inner):
                    return [*inner, ("PRODUCT_TYPE_NARROWED", path, "")]
        return [("TYPE_CHANGED", path, "")]


_MISSING = object()
_KEYWORD_KINDS = (
    (
        "object",
        (
            "properties",
            "required",
            "additionalProperties",
            "patternProperties",
            "dependencies",
            "dependentRequired",
            "dependentSchemas",
            "unevaluatedProperties",
            "maxProperties",
            "minProperties",
        ),
    ),
    (
        "array",
        (
            "items",
            "prefixItems",
            "additionalItems",
            "unevaluatedItems",
            "contains",
            "minContains",
            "maxContains",
            "maxItems",
            "minItems",
            "uniqueItems",
        ),
    ),
    ("string", ("maxLength", "minLength", "pattern")),
    ("number", ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf")),
)


def _is_empty(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and not (schema.keys() - _ANNOTATION_ONLY))


def _kind(schema: dict[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    for kind, words in _KEYWORD_KINDS:
        if any(word in schema for word in words):
            return kind
    return None


def _split_types(schema: dict[str, Any]) -> dict[str, Any]:
    """A ``type`` list is read as an ``anyOf`` of one branch per type."""
    types = schema.get("type")
    if not isinstance(types, list):
        return schema
    rest = {k: v for k, v in schema.items() if k != "type"}
    if len(types) == 1:
        return {**rest, "type": types[0]}
    keep = {k: v for k, v in rest.items() if k in _ANNOTATION_ONLY}
    branches = [
        {"type": t, **{k: v for k, v in rest.items() if k not in _ANNOTATION_ONLY}} for t in types
    ]
    return {**keep, "anyOf": branches}


def _combinator(schema: dict[str, Any]) -> str | None:
    for word in _COMBINATORS:
        if word in schema:
            return word
    return None


def _dedupe(members: list[Any]) -> list[Any]:
    out: list[Any] = []
    for member in members:
        if member not in out:
            out.append(member)
    return out


def _match(left: int, right: int, edges: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Maximum bipartite matching by augmenting paths (sizes are small)."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in range(right):
            if (i, j) in edges and j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(left):
        augment(i, set())
    return {(i, j) for j, i in owner.items()}


def _is_open(schema: dict[str, Any]) -> bool:
    return (
        schema.get("additionalProperties", True) is True
        and "patternProperties" not in schema
        and schema.get("unevaluatedProperties", True) is True
    )


def _covering(schema: dict[str, Any], name: str) -> Any:
    for pattern, sub in schema.get("patternProperties", {}).items():
        if re.search(pattern, name):
            return sub
    extra = schema.get("additionalProperties")
    if extra is not None and not isinstance(extra, bool):
        return extra
    unevaluated = schema.get("unevaluatedProperties")
    if extra is None and unevaluated is not None and not isinstance(unevaluated, bool):
        return unevaluated
    return None


def _tuple(schema: dict[str, Any]) -> tuple[list[Any] | None, Any]:
    rest = schema.get("unevaluatedItems", True)
    if "prefixItems" in schema:
        return schema["prefixItems"], schema.get("items", rest)
    if isinstance(schema.get("items"), list):
        return schema["items"], schema.get("additionalItems", rest)
    return None, True


def _enum(old: list[Any] | None, new: list[Any] | None, path: str) -> list[tuple[str, str, str]]:
    sub = path + "enum"
    if old is None:
        return [("ENUM_ARRAY_CHANGED", sub, "")] if new is not None else []
    if new is None:
        return [("ENUM_ARRAY_EXTENDED", sub, "")]
    if old == new or _same(old, new):
        return []
    if all(item in new for item in old):
        return [("ENUM_ARRAY_EXTENDED", sub, "")]
    if all(item in old for item in new):
        return [("ENUM_ARRAY_NARROWED", sub, "")]
    return [("ENUM_ARRAY_CHANGED", sub, "")]


def _same(old: list[Any], new: list[Any]) -> bool:
    return all(item in new for item in old) and all(item in old for item in new)


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def _bound(
    old: dict[str, Any], new: dict[str, Any], word: str, name: str, path: str, *, upper: bool
) -> list[tuple[str, str, str]]:
    o, n = old.get(word), new.get(word)
    if isinstance(o, bool) or isinstance(n, bool):
        return []  # draft 4 boolean exclusiveMaximum is handled by _exclusive
    if o is None and n is None:
        return []
    if o is None:
        return [(f"{name}_ADDED", path + word, "")]
    if n is None:
        return [(f"{name}_REMOVED", path + word, "")]
    if _number(o) == _number(n):
        return []
    grew = _number(n) > _number(o)
    return [(f"{name}_{'INCREASED' if grew else 'DECREASED'}", path + word, "")]


def _exclusive(old: dict[str, Any], new: dict[str, Any], path: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for word, bound, name, upper in (
        ("exclusiveMaximum", "maximum", "EXCLUSIVE_MAXIMUM", True),
        ("exclusiveMinimum", "minimum", "EXCLUSIVE_MINIMUM", False),
    ):
        o, n = _exclusive_value(old, word, bound), _exclusive_value(new, word, bound)
        out += _bound(
            {word: o} if o is not None else {},
            {word: n} if n is not None else {},
            word,
            name,
            path,
            upper=upper,
        )
    return out


def _exclusive_value(schema: dict[str, Any], word: str, bound: str) -> Any:
    """Draft 4 writes ``exclusiveMaximum: true`` beside ``maximum``; read both forms as a number."""
    value = schema.get(word)
    if value is True:
        return schema.get(bound)
    if value is False:
        return None
    return value


def _multiple_of(o: Any, n: Any, path: str) -> list[tuple[str, str, str]]:
    sub = path + "multipleOf"
    if o is None and n is None:
        return []
    if o is None:
        return [("MULTIPLE_OF_ADDED", sub, "")]
    if n is None:
        return [("MULTIPLE_OF_REMOVED", sub, "")]
    old, new = _number(o), _number(n)
    if old == new:
        return []
    if old % new == 0:
        return [("MULTIPLE_OF_REDUCED", sub, "")]
    if new % old == 0:
        return [("MULTIPLE_OF_EXPANDED", sub, "")]
    return [("MULTIPLE_OF_CHANGED", sub, "")]


def _format(old: Any, new: Any, path: str) -> list[tuple[str, str, str]]:
    """Formats are assertions under the engine's format policy: adding or changing one narrows."""
    sub = path + "format"
    if old == new:
        return []
    if new is None:
        return [("FORMAT_REMOVED", sub, "")]
    return [("FORMAT_ADDED" if old is None else "FORMAT_CHANGED", sub, "")]


def diff_schemas(old: Any, new: Any, *, policy: Policy = "strict") -> list[Difference]:
    """Every difference met reading data written with ``old`` through ``new``."""
    allowed = _allowed(policy)
    walk = _Walk(old, new, allowed)
    return [
        Difference(
            kind,
            "#/" if path == "#/" else path.rstrip("/"),
            kind not in allowed and kind != UNKNOWN,
            reason,
        )
        for kind, path, reason in walk.diff(old, new, "#/")
    ]


def _allowed(policy: str) -> frozenset[str]:
    if policy not in ("strict", "lenient"):
        raise SchemaError(f"unknown compatibility policy {policy!r}: use 'strict' or 'lenient'")
    return COMPATIBLE_LENIENT if policy == "lenient" else COMPATIBLE_STRICT


def check_compatibility(
    old: Any, new: Any, mode: str = "BACKWARD", *, policy: Policy = "strict"
) -> CompatibilityReport:
    """Check that ``new`` can replace ``old`` under ``mode``.

    ``old`` may be a list of earlier versions (oldest first) for the
    ``*_TRANSITIVE`` modes; the other modes use only the latest one.
    """
    mode = mode.upper()
    if mode not in MODES:
        raise SchemaError(f"unknown compatibility mode {mode!r}: use one of {', '.join(MODES)}")
    _allowed(policy)
    history = old if isinstance(old, list) else [old]
    if not mode.endswith("_TRANSITIVE"):
        history = history[-1:]
    report = CompatibilityReport(mode=mode, policy=policy)
    if mode == "NONE":
        return report
    base = mode.removesuffix("_TRANSITIVE")
    for earlier in reversed(history):
        if base in ("BACKWARD", "FULL"):
            report.differences += diff_schemas(earlier, new, policy=policy)
        if base in ("FORWARD", "FULL"):
            report.differences += diff_schemas(new, earlier, policy=policy)
        if report.breaking:
            break
    return report
