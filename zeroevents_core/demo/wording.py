"""Why an order breaks the demo's contract, in the project's words.

The library's failures carry jsonschema's messages (``'ada.example.com' is not a
'email'``); the demo re-reads the payload against the same contracts and words
the first failure itself: the field, the value, and the rule it breaks
(``customer.email: 'ada.example.com' is not an email address``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..schemas import SchemaRegistry

FORMATS = {
    "email": "an email address",
    "idn-email": "an email address",
    "date-time": "a date and time (RFC 3339)",
    "date": "a date (YYYY-MM-DD)",
    "time": "a time of day (RFC 3339)",
    "uri": "a URI",
    "uuid": "a UUID",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "hostname": "a host name",
}
TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _one_of(values: Sequence[Any]) -> str:
    return ", ".join(map(repr, values))


RULES: dict[str, Callable[[Any, Any], str]] = {
    "format": lambda value, rule: f"{value!r} is not {FORMATS.get(rule, f'a valid {rule}')}",
    "minimum": lambda value, rule: f"{value!r} is below the minimum, {rule!r}",
    "exclusiveMinimum": lambda value, rule: f"{value!r} is not above {rule!r}",
    "maximum": lambda value, rule: f"{value!r} is above the maximum, {rule!r}",
    "exclusiveMaximum": lambda value, rule: f"{value!r} is not below {rule!r}",
    "enum": lambda value, rule: f"{value!r} is not one of {_one_of(rule)}",
    "const": lambda value, rule: f"{value!r} is not {rule!r}",
    "pattern": lambda value, rule: f"{value!r} does not match the pattern {rule}",
    "minLength": lambda value, rule: f"{value!r} is shorter than {rule} characters",
    "maxLength": lambda value, rule: f"{value!r} is longer than {rule} characters",
    "minItems": lambda value, rule: f"has {len(value)} items, at least {rule} expected",
    "maxItems": lambda value, rule: f"has {len(value)} items, at most {rule} expected",
}


def field_path(parts: Sequence[Any]) -> str:
    """``["items", 0, "sku"]`` -> ``items[0].sku``; the whole order is ``the order``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "the order"


def word(error: Any) -> str:
    """One of jsonschema's ``ValidationError`` as ``field: value and rule``."""
    parts = list(error.absolute_path)
    rule = error.validator
    if rule == "required" and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{field_path([*parts, missing[0]])}: missing" if missing else error.message
    if rule == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(TYPES.get(name, name) for name in names)
        return f"{field_path(parts)}: {error.instance!r} is not {wanted}"
    rewrite = RULES.get(str(rule))
    text = rewrite(error.instance, error.validator_value) if rewrite else error.message
    return f"{field_path(parts)}: {text}"


def explain(registry: SchemaRegistry, event: str, payload: Sequence[Any]) -> str | None:
    """The first reason ``payload`` breaks the contracts of ``event``, None if it keeps them."""
    from ..schemas import PAYLOAD_ARGUMENT

    for contract in registry.contracts(event):
        if contract.mode == PAYLOAD_ARGUMENT:
            if len(payload) != 1:
                return f"expected one argument, the order; got {len(payload)}"
            instance: Any = payload[0]
        else:
            instance = list(payload)
        errors = sorted(
            contract.reference.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
        )
        if errors:
            return word(errors[0])
    return None
