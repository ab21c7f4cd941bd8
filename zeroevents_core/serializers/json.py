"""The ``json`` serializer: the default, byte-identical with the PHP original.

PHP writes ``json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)``:
no spaces, slashes and non-ASCII as they are. ``json.dumps`` with these
settings writes the same bytes, except for floats and U+2028/U+2029, which
:func:`~zeroevents_core.serializers.php_floats.php_json` rewrites as PHP writes them.

Decoding is bounded: a frame nested deeper than ``max_depth`` is a
:class:`~zeroevents_core.DecodeError`, found before the parser recurses (see
:func:`check_json_depth`), so a hostile ``[[[[...`` never reaches a ``RecursionError``.
"""

from __future__ import annotations

import json
import json.scanner
from itertools import accumulate
from typing import Any, cast

from ..errors import DecodeError
from ..hookspecs import hookimpl
from . import DEFAULT_MAX_FRAME_SIZE, Serializer
from .php_floats import php_json

# translate() deletes these bytes, keeping brackets and quotes.
_NOT_BRACKETS_OR_QUOTES = bytes(c for c in range(256) if c not in b'[]{}"')
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


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
    unescaped = frame.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.translate(None, _NOT_BRACKETS_OR_QUOTES).split(b'"')[::2])
    return max(accumulate(map(_STEP.__getitem__, outside)), default=0)


def check_json_depth(frame: bytes, max_depth: int) -> None:
    """Raise :class:`DecodeError` if ``frame`` nests arrays/objects deeper than ``max_depth``.

    The common frame costs two ``bytes.count`` scans: a text with no more opening
    brackets than ``max_depth`` cannot nest deeper. Only frames with more of them
    are measured (:func:`json_depth`), before the parser could recurse.
    """
    if frame.count(b"[") + frame.count(b"{") > max_depth and json_depth(frame) > max_depth:
        raise DecodeError(f"arrays/objects nest deeper than the limit of {max_depth}")


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: PHP refuses them, and so does our encoder.
    raise ValueError(f"{name} is not valid JSON")


# PHP's json_decode (depth 512) reads arrays/objects nested 511 deep and refuses 512:
# the same limit here, so that what the original sends is read.
PHP_JSON_MAX_DEPTH = 511


class JsonSerializer(Serializer):
    name = "json"
    content_type = "application/json"

    def __init__(
        self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, max_depth: int = PHP_JSON_MAX_DEPTH
    ) -> None:
        super().__init__(max_frame_size=max_frame_size, max_depth=max_depth)

    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    _decoder = json.JSONDecoder(parse_constant=_refuse_constant)
    # Frames are UTF-8 (as PHP writes them): decoding them ourselves skips the
    # encoding detection json.loads does on bytes; calling the compiled scanner
    # skips JSONDecoder.decode's Python layers. Together, a third of its time here.
    # What JSONDecoder.decode calls (typeshed types its argument too narrowly).
    _scan = json.scanner.make_scanner(cast(Any, _decoder))
    _decode = _decoder.decode

    def dumps(self, value: Any) -> bytes:
        return php_json(self._encode(value)).encode()

    def loads(self, frame: bytes) -> Any:
        if not frame:
            # What PHP sends when json_encode fails; its json_decode reads it as null.
            return None
        check_json_depth(frame, self.max_depth)
        text = frame.decode()
        try:
            value, end = self._scan(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        # Whitespace around the value, no value, or more after it: the full decoder
        # accepts the first and names the others exactly.
        return self._decode(text)


@hookimpl
def register_serializers(register: Any) -> None:
    register(JsonSerializer)
