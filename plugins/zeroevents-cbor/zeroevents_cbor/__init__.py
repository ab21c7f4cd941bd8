"""The ``cbor`` serializer: CBOR (RFC 8949) frames, one per payload argument, on cbor2 6.

Install ``zeroevents-cbor`` and give ``serializer="cbor"``: the core finds this
module through the ``zeroevents`` entry-point group.

Carries None, bools, integers of any size (wider than 64 bits as bignums, up to
``max_bignum_bytes``), floats, str, bytes, lists (tuples arrive as lists), dicts
with str or bytes keys, and through cbor2's standard tags: timezone-aware
datetimes, dates, Decimal, Fraction, UUID, IP addresses and networks, complex,
and sets of str or bytes.

Tag policy on decoding (hostile frames must not build arbitrary objects):

* decoded as cbor2 does: 0/1 datetime, 2/3 bignum (bounded), 4 decimal fraction,
  30 rational, 37 UUID, 52/54 and 260/261 IP addresses, 100/1004 date,
  258 set, 43000 complex, 55799 self-described CBOR (dropped, value kept);
* refused (:class:`~zeroevents_core.DecodeError`): 5 bigfloat (builds
  ``2 ** exponent``), 25/256 string references and 28/29 shared values (aliasing
  and cycles), 35 regular expression (compiles attacker text), 36 MIME message
  (runs the email parser);
* any other tag is kept opaque: a ``cbor2.CBORTag(tag, value)`` holding plain values.

Also: map keys and set elements must be str or bytes (``strict_hashable_types``:
integer or tuple keys could be chosen to collide and make decoding quadratic),
nesting deeper than ``max_depth`` and frames over ``max_frame_size`` are refused, so
are bytes after the frame's value (a frame holds one value) and decimal fractions
(tag 4) whose exponent is beyond ``max_decimal_exponent`` (``Decimal('1E+1000000000')``
is 8 bytes and its ``int()`` a billion digits).

The decode budget (``max_items``, ``max_containers``): a frame with more bytes that
could start an array, a map or a tag than ``max_containers`` (or more bytes than
``max_items``) has its headers counted first (:func:`count_items`, which stops at the
first item over the budget) before cbor2 builds anything.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import cbor2

from zeroevents_core import DecodeError, Serializer, hookimpl

__all__ = [
    "DEFAULT_MAX_BIGNUM_BYTES",
    "DEFAULT_MAX_DECIMAL_EXPONENT",
    "REFUSED_TAGS",
    "CborSerializer",
    "count_items",
]

# 1024 bytes is 8192 bits, about 2466 decimal digits: still printable under Python's
# default limit of 4300 digits for int/str conversion, as JSON's ints are.
DEFAULT_MAX_BIGNUM_BYTES = 1024
# As far as the digits of a bignum go: Decimal('1E+4300') still converts to an int
# Python prints.
DEFAULT_MAX_DECIMAL_EXPONENT = 4300

REFUSED_TAGS: Mapping[int, str] = {
    5: "bigfloat",
    25: "string reference",
    256: "string reference namespace",
    28: "shared value",
    29: "shared value reference",
    35: "regular expression",
    36: "MIME message",
}


def _refuse(tag: int, what: str) -> Callable[[Any, bool], Any]:
    def refuse(value: Any, immutable: bool) -> Any:
        raise ValueError(f"CBOR tag {tag} ({what}) is refused")

    return refuse


def _bignum(negative: bool, max_bytes: int) -> Callable[[Any, bool], int]:
    def decode(value: Any, immutable: bool) -> int:
        if not isinstance(value, bytes):
            raise ValueError(f"a bignum holds a byte string, not {type(value).__name__}")
        if len(value) > max_bytes:
            raise ValueError(f"a {len(value)}-byte bignum is over the limit of {max_bytes} bytes")
        number = int.from_bytes(value, "big")
        return -1 - number if negative else number

    return decode


def _self_described(value: Any, immutable: bool) -> Any:
    return value


def _decimal(max_exponent: int) -> Callable[[Any, bool], Decimal]:
    def decode(value: Any, immutable: bool) -> Decimal:
        if not (isinstance(value, list | tuple) and len(value) == 2):
            raise ValueError("a decimal fraction holds [exponent, mantissa]")
        exponent, mantissa = value
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
            raise ValueError("a decimal fraction's exponent and mantissa are integers")
        if abs(exponent) > max_exponent:
            raise ValueError(
                f"a decimal fraction's exponent {exponent} is beyond the limit "
                f"max_decimal_exponent={max_exponent}"
            )
        sign, digits, own = Decimal(mantissa).as_tuple()
        return Decimal((sign, digits, int(own) + exponent))

    return decode


# Bytes that may start an array (0x80-0x9f), a map (0xa0-0xbf) or a tag (0xc0-0xdb).
_NOT_CONTAINER_HEADERS = bytes(b for b in range(256) if not 0x80 <= b <= 0xDB)
_ARGUMENT_BYTES = {24: 1, 25: 2, 26: 4, 27: 8}
# An array of two items, and the simple value "undefined" (rare in payloads).
_PAIR, _SENTINEL = b"\x82", b"\xf7"


def count_items(frame: bytes, max_items: int, max_containers: int) -> tuple[int, int]:
    """``(items, containers)`` of the data items in ``frame`` (arrays, maps and tags are
    containers; string chunks count as items), counted from their headers with no
    recursion; counting stops as soon as either is over its limit."""
    size = len(frame)
    items = containers = 0
    position = 0
    while position < size and items <= max_items and containers <= max_containers:
        initial = frame[position]
        position += 1
        if initial == 0xFF:  # the end of an indefinite-length item
            continue
        major, info = initial >> 5, initial & 0x1F
        argument = info
        if info in _ARGUMENT_BYTES:
            width = _ARGUMENT_BYTES[info]
            argument = int.from_bytes(frame[position : position + width], "big")
            position += width
        elif info > 27 and info != 31:
            raise ValueError(f"reserved additional information {info} at byte {position - 1}")
        items += 1
        if major in (2, 3) and info != 31:  # a string's bytes are skipped whole
            position += argument
        elif major in (4, 5, 6):
            containers += 1
    return items, containers


_CONTAINERS = (list, tuple, dict, set, frozenset, cbor2.CBORTag)


def _nests_deeper(value: Any, max_depth: int) -> bool:
    """Whether containers in ``value`` nest deeper than ``max_depth``, level by level."""
    frontier: list[Any] = [value]
    depth = 0
    while True:
        frontier = [item for item in frontier if isinstance(item, _CONTAINERS)]
        if not frontier:
            return False
        depth += 1
        if depth > max_depth:
            return True
        children: list[Any] = []
        for item in frontier:
            if isinstance(item, dict):
                children.extend(item)
                children.extend(item.values())
            elif isinstance(item, cbor2.CBORTag):
                children.append(item.value)
            else:
                children.extend(item)
        frontier = children


class CborSerializer(Serializer):
    """CBOR with a safe tag policy (see the module documentation)."""

    name = "cbor"
    content_type = "application/cbor"

    def __init__(
        self,
        *,
        max_bignum_bytes: int = DEFAULT_MAX_BIGNUM_BYTES,
        max_decimal_exponent: int = DEFAULT_MAX_DECIMAL_EXPONENT,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.max_bignum_bytes = max_bignum_bytes
        self.max_decimal_exponent = max_decimal_exponent
        decoders: dict[int, Callable[[Any, bool], Any]] = {
            tag: _refuse(tag, what) for tag, what in REFUSED_TAGS.items()
        }
        decoders[2] = _bignum(False, max_bignum_bytes)
        decoders[3] = _bignum(True, max_bignum_bytes)
        decoders[4] = _decimal(max_decimal_exponent)
        decoders[55799] = _self_described
        self._semantic_decoders = decoders

    def dumps(self, value: Any) -> bytes:
        # cbor2's encoder recurses natively with no limit: a value nested a few
        # thousand deep crashes the process (SIGSEGV). So the depth the decoder
        # accepts is checked first; it costs a walk of the value's containers.
        if _nests_deeper(value, self.max_depth):
            raise ValueError(f"containers nest deeper than the limit of {self.max_depth}")
        return cbor2.dumps(value)

    def loads(self, frame: bytes) -> Any:
        size = len(frame)
        # A frame has no more items than bytes, and no more containers than bytes that
        # may open one: within the budget either way, the walk is skipped.
        if size >= self.max_items or (
            size > self.max_containers
            and len(frame.translate(None, _NOT_CONTAINER_HEADERS)) > self.max_containers
        ):
            items, containers = count_items(frame, self.max_items, self.max_containers)
            self.check_budget(items, containers, at_least=True)
        if frame.endswith(_SENTINEL):
            return self._decode_exactly(frame)
        # cbor2.loads ignores bytes after the first data item. Decoded as the first of
        # a two-item array whose second is the sentinel, the frame is one item exactly
        # when the sentinel comes back second (a frame ending in the sentinel byte is
        # decoded from a stream instead, which costs a third more).
        pair = self._decode(_PAIR + frame + _SENTINEL, self.max_depth + 1)
        if type(pair) is not list or len(pair) != 2 or pair[1] is not cbor2.undefined:
            return self._decode_exactly(frame)  # to say where the value ends
        return pair[0]

    def _decode(self, data: bytes, max_depth: int) -> Any:
        try:
            return cbor2.loads(
                data,
                max_depth=max_depth,
                semantic_decoders=self._semantic_decoders,
                strict_hashable_types=True,
            )
        except cbor2.CBORDecodeError as exc:
            # cbor2 says "error decoding semantic tag 35"; the reason is in the cause.
            cause = exc.__cause__
            raise DecodeError(f"{exc}: {cause}" if cause is not None else str(exc)) from exc

    def _decode_exactly(self, frame: bytes) -> Any:
        stream = io.BytesIO(frame)
        try:
            value = cbor2.CBORDecoder(
                stream,
                max_depth=self.max_depth,
                semantic_decoders=self._semantic_decoders,
                strict_hashable_types=True,
            ).decode()
        except cbor2.CBORDecodeError as exc:
            cause = exc.__cause__
            raise DecodeError(f"{exc}: {cause}" if cause is not None else str(exc)) from exc
        end = stream.tell()
        if end != len(frame):
            raise DecodeError(
                f"{len(frame) - end} bytes after the value, from byte {end} "
                "(a frame holds one value)"
            )
        return value


@hookimpl
def register_serializers(register: Any) -> None:
    register(CborSerializer)
