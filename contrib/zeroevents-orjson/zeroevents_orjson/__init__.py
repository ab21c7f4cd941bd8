"""The ``orjson`` serializer: the core's JSON wire format, encoded and decoded by orjson.

This is the example to copy when writing a serializer plugin (see
``docs/writing-a-serializer-plugin.md``): a :class:`~zeroevents_core.Serializer`
subclass with ``name`` and ``content_type``, ``dumps`` and ``loads`` for one value,
a module-level ``register_serializers`` hook, and an entry point in the
``zeroevents`` group in ``pyproject.toml``. The base class does the frames, the
frame size limit and the error wrapping.

Wire-compatible with the core ``json`` serializer both ways: orjson writes compact
UTF-8 with non-ASCII and slashes as they are, as PHP's ``json_encode`` does with
``JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE``. Where orjson and the core
differ, this module defers to the core, so that a payload means the same thing
whichever JSON serializer each end uses:

* what orjson cannot encode (integers beyond 64 bits, non-str dict keys) is encoded
  by the core encoder, which also decides what is an error;
* orjson writes NaN and infinities as ``null``: a frame with ``null`` in it is
  encoded again by the core encoder, which refuses them (no silent loss);
* orjson reads integers below -2**63 or above 2**64 - 1 as floats: a frame with a run of 19 digits
  is decoded by the core decoder, which keeps them exact;
* nesting up to 511, the decode budget and the empty frame (read as null) as the core;
* non-finite numbers (``1e999``) and lone surrogates are refused, by both;
* floats and U+2028/U+2029 are rewritten as PHP writes them (``1.0`` as ``1``,
  ``1e25`` as ``1.0e+25``), as the core does;
* datetimes and dataclasses are refused, as by the core (orjson would write them).
"""

from __future__ import annotations

from typing import Any

import orjson

from zeroevents_core import Serializer, hookimpl
from zeroevents_core.serializers.json import PHP_JSON_MAX_DEPTH, JsonSerializer, check_json_limits
from zeroevents_core.serializers.php_floats import php_json_bytes

__all__ = ["OrjsonSerializer"]

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# orjson holds integers from -2**63 to 2**64 - 1: one it cannot hold has at least 19
# digits in a row (-2**63 - 1 has 19). Mapping digits to "0" and the rest to " "
# then searching for nineteen "0"s is two C-level passes, several times cheaper than
# a regular expression.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_DIGITS = b"0" * 19


class OrjsonSerializer(Serializer):
    """JSON on orjson, frames interchangeable with the core ``json`` serializer's."""

    name = "orjson"
    content_type = "application/json"

    def __init__(self, *, max_depth: int = PHP_JSON_MAX_DEPTH, **options: Any) -> None:
        super().__init__(max_depth=max_depth, **options)
        self._core = JsonSerializer(max_depth=max_depth, **options)

    def dumps(self, value: Any) -> bytes:
        try:
            frame = orjson.dumps(value, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return self._core.dumps(value)
        if b"null" in frame:
            return self._core.dumps(value)
        return php_json_bytes(frame)

    def loads(self, frame: bytes) -> Any:
        if not frame:
            return None
        check_json_limits(frame, self)
        if _LONG_DIGITS in frame.translate(_DIGITS_TO_ZERO):
            return self._core.loads(frame)
        return orjson.loads(frame)


@hookimpl
def register_serializers(register: Any) -> None:
    register(OrjsonSerializer)
