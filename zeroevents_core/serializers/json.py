"""The ``json`` serializer: the default, byte-identical with the PHP original.

PHP writes ``json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)``:
no spaces, slashes and non-ASCII as they are. ``json.dumps`` with these
settings writes the same bytes, except for floats and U+2028/U+2029, which
:func:`~zeroevents_core.serializers.php_floats.php_json` rewrites as PHP writes them.

Decoding is bounded: a frame nested deeper than ``max_depth`` is a
:class:`~zeroevents_core.DecodeError`, found before the parser recurses (see
:func:`check_json_depth`), so a hostile ``[[[[...`` never reaches a ``RecursionError``;
a frame over the decode budget (``max_items``, ``max_containers``) is one before it is
parsed (see :func:`check_json_limits`).

Decoding is strict where the stdlib is lenient, as orjson is: numbers must be finite
(``1e999`` would be ``inf``) and strings must not hold lone surrogates (``"\\ud800"``).
Both can only come from a few shapes of text, looked for with C-level scans
(:func:`_needs_strict_decoding`); only frames that have one are decoded with the checks.

Accelerated by orjson when it is installed (``pip install zeroevents-core[fast]``), with
the same bytes and the same values as the stdlib path, which stays the reference: orjson
encodes only values made of exact built-in types (``marshal`` refuses the others in C:
enums, UUIDs, subclasses, which orjson would write and the stdlib refuses or writes its
own way), its output is rewritten as PHP writes it as the stdlib's is, and every value
orjson refuses, or may write differently (NaN and infinities, which it writes as
``null``), goes to the stdlib. It decodes only frames without a run of 19 digits
(integers past 64 bits, which orjson reads as floats); it refuses what the strict checks
refuse (infinite numbers, lone surrogates), and whatever it refuses is decoded by the
stdlib, which says why.
``JsonSerializer(accelerated=False)``, or ``ZEROEVENTS_PURE_JSON=1`` in the environment,
keeps to the stdlib.
"""

from __future__ import annotations

import json
import json.scanner
import marshal
import math
import os
from itertools import accumulate
from typing import Any, cast

from ..errors import ConfigurationError, DecodeError
from ..hookspecs import hookimpl
from . import Serializer
from .php_floats import php_json_bytes

try:
    import orjson
except ImportError:  # the extra zeroevents-core[fast] is not installed
    orjson = None  # type: ignore[assignment]

# Set to 1, the json serializer keeps to the stdlib even where orjson is installed.
PURE_JSON_VARIABLE = "ZEROEVENTS_PURE_JSON"

# translate() deletes these bytes, keeping brackets and quotes (and separators).
_NOT_BRACKETS_OR_QUOTES = bytes(c for c in range(256) if c not in b'[]{}"')
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}",:')
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
# Digits as "0", exponent marks as "e", the rest as spaces, and "+" deleted: a float
# can overflow to infinity only with a 3-digit exponent ("e000") or a run of 200
# digits or more (200 digits and a 2-digit exponent stay below 1e300).
_NUMBER_SHAPE = bytes(
    0x30 if 0x30 <= c <= 0x39 else 0x65 if c in b"eE" else 0x20 for c in range(256)
)
_THREE_DIGIT_EXPONENT = b"e000"
_LONG_RUN = b"0" * 200
# orjson holds integers from -2**63 to 2**64 - 1; one it cannot has 19 digits in a row.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_INT64_RUN = b"0" * 19
# How marshal (version 1: floats as text) writes the floats orjson writes as null.
_NON_FINITE = (b"f\x03nan", b"f\x03inf", b"f\x04-inf")
# Lone surrogates come only from \\u escapes of D800-DFFF.
_SURROGATE_ESCAPES = tuple(b"\\ud" + bytes([c]) for c in b"89abcdef")  # in lowercase


def json_depth(frame: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings skipped).

    Exact for valid JSON, and for invalid JSON up to its first error, which is as
    far as the parser goes: so the parser never nests deeper than this says. Escaped
    backslashes, then escaped quotes, are dropped so that every quote left opens or
    closes a string; splitting on quotes then leaves the text outside strings at even
    positions. Linear, recursion-free, C-level loops: on a container-heavy frame
    about as long as ``json.loads`` itself, which is why :func:`check_json_depth`
    calls it only when a frame has more opening brackets than the limit.
    """
    outside = _outside_strings(frame, _NOT_BRACKETS_OR_QUOTES)
    return max(accumulate(map(_STEP.__getitem__, outside)), default=0)


def _outside_strings(frame: bytes, delete: bytes) -> bytes:
    """The bytes of ``frame`` outside its strings, less ``delete`` (which keeps quotes)."""
    unescaped = frame.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.translate(None, delete).split(b'"')[::2])


def check_json_depth(frame: bytes, max_depth: int) -> None:
    """Raise :class:`DecodeError` if ``frame`` nests arrays/objects deeper than ``max_depth``.

    The common frame costs two ``bytes.count`` scans: a text with no more opening
    brackets than ``max_depth`` cannot nest deeper. Only frames with more of them
    are measured (:func:`json_depth`), before the parser could recurse.
    """
    if frame.count(b"[") + frame.count(b"{") > max_depth and json_depth(frame) > max_depth:
        raise DecodeError(f"arrays/objects nest deeper than the limit of {max_depth}")


def check_json_limits(frame: bytes, serializer: Serializer) -> None:
    """Raise :class:`DecodeError` if ``frame`` nests deeper than ``max_depth`` or is over
    the decode budget, before it is parsed.

    Items are counted as 1 + commas + colons + containers outside strings (exact but
    for each empty container, counted as holding one item). The common frame costs two
    ``bytes.count`` scans: it has fewer bytes than ``max_items`` and no more opening
    brackets than ``max_depth`` and ``max_containers``; a frame shorter than each
    limit (most events: an order is 282 bytes, the depth limit 511) needs no scan.
    """
    size = len(frame)
    if (
        size <= serializer.max_depth
        and size <= serializer.max_containers
        and size < serializer.max_items
    ):
        return  # fewer bytes, so fewer brackets and items, than every limit
    opening = frame.count(b"[") + frame.count(b"{")
    if opening > serializer.max_containers or size >= serializer.max_items:
        # First, as it is cheaper than measuring the depth of many containers.
        outside = _outside_strings(frame, _NOT_STRUCTURE)
        containers = outside.count(b"[") + outside.count(b"{")
        items = 1 + containers + outside.count(b",") + outside.count(b":")
        serializer.check_budget(items, containers)
    max_depth = serializer.max_depth
    if opening > max_depth and json_depth(frame) > max_depth:
        raise DecodeError(f"arrays/objects nest deeper than the limit of {max_depth}")


def _needs_strict_decoding(frame: bytes) -> bool:
    """Whether ``frame`` may hold a number that overflows or a lone surrogate escape
    (one C-level translation and two searches, and a memchr: most frames have neither)."""
    shape = frame.translate(_NUMBER_SHAPE, b"+")
    if _THREE_DIGIT_EXPONENT in shape or (len(shape) >= 200 and _LONG_RUN in shape):
        return True
    if b"\\" in frame:  # one byte: a memchr, where a longer needle costs a search
        lowered = frame.lower()
        return any(escape in lowered for escape in _SURROGATE_ESCAPES)
    return False


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (math.inf, -math.inf):
        raise DecodeError(f"number {_short(literal)} is out of range (JSON numbers must be finite)")
    return value


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refuse_lone_surrogates(value: Any) -> None:
    # The encoder walks every string in C; UTF-8 cannot encode a lone surrogate.
    try:
        json.dumps(value, ensure_ascii=False, check_circular=False).encode()
    except UnicodeEncodeError as exc:
        raise DecodeError(
            f"a string holds a lone surrogate {exc.object[exc.start : exc.end]!r}"
        ) from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: PHP refuses them, and so does our encoder.
    raise ValueError(f"{name} is not valid JSON")


# PHP's json_decode (depth 512) reads arrays/objects nested 511 deep and refuses 512:
# the same limit here, so that what the original sends is read.
PHP_JSON_MAX_DEPTH = 511


def _accelerated(wanted: bool | None) -> bool:
    if wanted is None:
        return orjson is not None and os.environ.get(PURE_JSON_VARIABLE, "") in ("", "0")
    if not isinstance(wanted, bool):
        raise ConfigurationError(
            f"json serializer option 'accelerated' must be True, False or None, not {wanted!r}"
        )
    if wanted and orjson is None:
        raise ConfigurationError(
            "json serializer option accelerated=True needs orjson: "
            "pip install 'zeroevents-core[fast]'"
        )
    return wanted


class JsonSerializer(Serializer):
    """JSON as the PHP original writes it.

    ``accelerated``: encode and decode with orjson (same bytes, same values); None
    (default) when orjson is installed and ``ZEROEVENTS_PURE_JSON`` is not set to 1.
    """

    name = "json"
    content_type = "application/json"

    def __init__(
        self,
        *,
        max_depth: int = PHP_JSON_MAX_DEPTH,
        accelerated: bool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(max_depth=max_depth, **options)
        self.accelerated = _accelerated(accelerated)

    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    _decoder = json.JSONDecoder(parse_constant=_refuse_constant)
    # Frames are UTF-8 (as PHP writes them): decoding them ourselves skips the
    # encoding detection json.loads does on bytes; calling the compiled scanner
    # skips JSONDecoder.decode's Python layers. Together, a third of its time here.
    # What JSONDecoder.decode calls (typeshed types its argument too narrowly).
    _scan = json.scanner.make_scanner(cast(Any, _decoder))
    _decode = _decoder.decode
    _decode_strictly = json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=_finite_float
    ).decode

    def dumps(self, value: Any) -> bytes:
        if self.accelerated:
            try:
                marshal.dumps(value)  # exact built-in types only, in C
                frame = orjson.dumps(value)
            except Exception:
                return self._dumps_stdlib(value)
            if b"null" in frame and _has_non_finite(value):
                return self._dumps_stdlib(value)  # which refuses them
            return php_json_bytes(frame)
        return self._dumps_stdlib(value)

    def _dumps_stdlib(self, value: Any) -> bytes:
        return php_json_bytes(self._encode(value).encode())

    def loads(self, frame: bytes) -> Any:
        if not frame:
            # What PHP sends when json_encode fails; its json_decode reads it as null.
            return None
        check_json_limits(frame, self)
        # orjson refuses what the strict checks refuse (infinite numbers, lone
        # surrogates); only integers past 64 bits, which it reads as floats, stay out.
        if self.accelerated and _INT64_RUN not in frame.translate(_DIGITS_TO_ZERO):
            try:
                return orjson.loads(frame)
            except orjson.JSONDecodeError:
                pass  # the stdlib decides, and says why
        return self._loads_stdlib(frame)

    def _loads_stdlib(self, frame: bytes) -> Any:
        text = frame.decode()
        if _needs_strict_decoding(frame):
            value = self._decode_strictly(text)
            _refuse_lone_surrogates(value)
            return value
        try:
            value, end = self._scan(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        # Whitespace around the value, no value, or more after it: the full decoder
        # accepts the first and names the others exactly.
        return self._decode(text)


def _has_non_finite(value: Any) -> bool:
    # Only when orjson wrote a null; a string that holds these bytes costs a stdlib encode.
    written = marshal.dumps(value, 1)
    return any(form in written for form in _NON_FINITE)


@hookimpl
def register_serializers(register: Any) -> None:
    register(JsonSerializer)
