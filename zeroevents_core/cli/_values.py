"""Event values on the command line: JSON out (``listen``), JSON in (``emit``).

Values JSON cannot show, in ``listen``'s output, become a one-key object naming
their type: ``{"$bytes": "<base64>"}`` for bytes (msgpack, cbor),
``{"$float": "NaN"}`` for non-finite floats, ``{"$set": [...]}`` for sets, and
``{"$<type>": "<str(value)>"}`` for the rest (``$datetime``, ``$Decimal``,
``$UUID``...). ``emit`` reads ``{"$bytes": ...}`` back as bytes, so
``listen | emit -`` relays binary payloads.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..errors import CommandError

BYTES_MARKER = "$bytes"


def to_json(value: Any) -> Any:
    """``value`` as JSON can show it (see the module's documentation)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else {"$float": repr(value).replace("inf", "Infinity").replace("nan", "NaN")}
        )
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BYTES_MARKER: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return {"$set": [to_json(item) for item in value]}
    if hasattr(value, "isoformat"):
        return {f"${type(value).__name__}": value.isoformat()}
    return {f"${type(value).__name__}": str(value)}


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    return json.dumps(to_json(key), separators=(",", ":"), sort_keys=True)


def _from_json_object(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1 and pairs[0][0] == BYTES_MARKER:
        encoded = pairs[0][1]
        try:
            if not isinstance(encoded, str):
                raise ValueError("not a string")
            return base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError(f'{{"{BYTES_MARKER}": ...}} must hold base64 text: {exc}') from None
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """One JSON value, ``{"$bytes": BASE64}`` read as bytes; NaN and Infinity refused."""
    return json.loads(text, object_pairs_hook=_from_json_object, parse_constant=_no_constant)


def option_value(text: str) -> Any:
    """The value of ``--option KEY=VALUE``: VALUE as JSON when it parses, else the text."""
    try:
        return parse_json(text)
    except ValueError:
        return text


def argument_payload(texts: Sequence[str]) -> list[Any]:
    """``emit``'s ARGs, each one JSON literal."""
    payload = []
    for index, text in enumerate(texts, 1):
        try:
            payload.append(parse_json(text))
        except ValueError as exc:
            raise CommandError(
                f"argument {index} {text!r} is not a JSON literal ({exc}); "
                "write strings with their quotes: '\"text\"'"
            ) from None
    return payload


def read_events(lines: Iterable[str]) -> Iterator[tuple[str, list[Any]]]:
    """``(event, payload)`` from JSON lines ``{"event": NAME, "payload": [...]}``."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = parse_json(line)
        except ValueError as exc:
            raise CommandError(f"stdin line {number} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError(
                f'stdin line {number}: expected {{"event": NAME, "payload": [...]}}, '
                f"got {type(value).__name__}"
            )
        unknown = sorted(set(value) - {"event", "payload", "address"})
        if unknown:
            raise CommandError(
                f'stdin line {number}: unknown key {unknown[0]!r}; expected "event" and "payload"'
            )
        event, payload = value.get("event"), value.get("payload", [])
        if not isinstance(event, str) or not event:
            raise CommandError(f'stdin line {number}: "event" must be a non-empty string')
        if not isinstance(payload, list):
            raise CommandError(f'stdin line {number}: "payload" must be a list of arguments')
        yield event, payload


def one_line(text: str) -> str:
    """A multi-line message (a contract's failure list) as one line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} {'; '.join(lines[1:])}"
