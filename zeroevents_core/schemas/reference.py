"""The reference engine (Python ``jsonschema``) with its regular expressions run safely.

``jsonschema`` runs every ``pattern``, ``patternProperties`` (and the patterns that
``additionalProperties`` weighs) and ``format: regex`` with Python ``re``, a
backtracking engine: ``"^(a+)+$"`` against 40 ``a`` and a ``!`` from a peer never
finishes, and no signal can stop it. Here those keywords are replaced by ones that
match with jsonschema-rs's engine (Rust ``regex``, linear; ``fancy-regex`` with a
bounded backtrack count for look-arounds and back-references), with the same
messages and paths as ``jsonschema``'s own. Each pattern comes from a local schema and
is compiled once.

``unevaluatedProperties`` weighs ``patternProperties`` deep inside jsonschema's code
(a recursive search of the keys each subschema evaluates): rather than copy that
code, its functions are rebuilt with the name ``re`` bound to :class:`_SafeRe`, whose
``search`` is :func:`safe_search` (new function objects; jsonschema itself is left
as it is). ``evolve``, which picks the class of each schema it descends into by that
schema's ``$schema``, is rebuilt the same way so that a contract file declaring
``$schema`` is checked by the safe class of its draft, not by jsonschema's own.

Left to Python ``re``: a pattern jsonschema-rs cannot compile (a Python-only syntax;
the schema then uses the reference engine for its verdict too, and the load logs it),
and every pattern when jsonschema-rs is not installed.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import jsonschema.validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from jsonschema.protocols import (  # type: ignore[import-untyped]
    Validator as ReferenceValidator,
)

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - depends on the platform
    jsonschema_rs = None  # type: ignore[assignment]

__all__ = ["safe_search", "safe_validator_class"]

log = logging.getLogger(__name__)

# Distinct patterns compiled (they come from the loaded schemas, not from peers).
PATTERN_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=PATTERN_CACHE_SIZE)
def _matcher(pattern: str) -> Callable[[str], bool]:
    if jsonschema_rs is not None:
        try:
            return jsonschema_rs.validator_for({"pattern": pattern}).is_valid
        except Exception as exc:  # a syntax only Python knows
            log.warning(
                "pattern %r is matched by Python re (jsonschema-rs cannot compile it: %s): "
                "a hostile string can make it backtrack for a long time",
                pattern,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text) is not None


def safe_search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (what ``re.search`` answers)."""
    return _matcher(pattern)(text)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not safe_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if safe_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(safe_search(p, key) for p in patterns)
    ]


def _extras_message(extras: list[Any]) -> tuple[str, str]:
    verb = "was" if len(extras) == 1 else "were"
    return ", ".join(repr(extra) for extra in extras), verb


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    # jsonschema's own, with the patterns matched by safe_search.
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            joined, verb = _extras_message(sorted(extras, key=str))
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


class _SafeRe:
    """What the rebuilt jsonschema functions see as ``re``: they only call ``search``."""

    @staticmethod
    def search(pattern: str, text: str) -> bool | None:
        return True if safe_search(pattern, text) else None


def _rebuilt(function: Any, **names: Any) -> Any:
    """``function`` with ``re`` (and ``names``) rebound in its globals; a recursive
    function calls its rebuilt self."""
    namespace = {**function.__globals__, "re": _SafeRe, **names}
    rebuilt = types.FunctionType(
        function.__code__,
        namespace,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    namespace[function.__name__] = rebuilt
    return rebuilt


def _safe_validator_for(schema: Any, default: Any) -> Any:
    """What ``evolve`` asks when it descends into a subschema: a subschema declaring its
    ``$schema`` gets that draft's safe class, not jsonschema's own."""
    found = jsonschema.validators.validator_for(schema, default=default)
    return found if found in _SAFE_CLASSES.values() else safe_validator_class(found)


def _safe_unevaluated_properties() -> dict[str, Any]:
    from jsonschema import _keywords, _legacy_keywords, _utils

    modern = _rebuilt(_utils.find_evaluated_property_keys_by_schema)
    legacy = _rebuilt(_legacy_keywords.find_evaluated_property_keys_by_schema)
    return {
        "modern": _rebuilt(
            _keywords.unevaluatedProperties, find_evaluated_property_keys_by_schema=modern
        ),
        "legacy": _rebuilt(
            _legacy_keywords.unevaluatedProperties_draft2019,
            find_evaluated_property_keys_by_schema=legacy,
        ),
    }


def _is_regex(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if jsonschema_rs is None:  # pragma: no cover - depends on the platform
        return bool(re.compile(instance))
    return bool(_REGEX_FORMAT.is_valid(instance))


_UNEVALUATED = _safe_unevaluated_properties()

# One class per draft, made on first use (a handful: the drafts jsonschema knows).
_SAFE_CLASSES: dict[type[ReferenceValidator], type[ReferenceValidator]] = {}

_REGEX_FORMAT: Any = (
    jsonschema_rs.validator_for({"format": "regex"}, validate_formats=True)
    if jsonschema_rs is not None
    else None
)


def safe_validator_class(draft: type[ReferenceValidator]) -> type[ReferenceValidator]:
    """``draft`` with its regex keywords and its ``regex`` format matched safely."""
    safe = _SAFE_CLASSES.get(draft)
    if safe is None:
        safe = _SAFE_CLASSES[draft] = _extend(draft)
    return safe


def _extend(draft: type[ReferenceValidator]) -> type[ReferenceValidator]:
    keywords = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    if "unevaluatedProperties" in draft.VALIDATORS:
        legacy = draft is jsonschema.Draft201909Validator
        keywords["unevaluatedProperties"] = _UNEVALUATED["legacy" if legacy else "modern"]
    checker = copy.copy(draft.FORMAT_CHECKER)
    checker.checkers = {**draft.FORMAT_CHECKER.checkers, "regex": (_is_regex, ())}
    safe = jsonschema.validators.extend(draft, validators=keywords, format_checker=checker)
    # Descending into a subschema (a $ref to a file declaring $schema) looks its class up
    # by $schema, which would be jsonschema's own: evolve is rebuilt to stay safe.
    safe.evolve = _rebuilt(safe.evolve, validator_for=_safe_validator_for)
    return safe  # type: ignore[no-any-return]
