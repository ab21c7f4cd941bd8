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
nesting deeper than ``max_depth`` and frames over ``max_frame_size`` are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cbor2

from zeroevents_core import DecodeError, Serializer, hookimpl

__all__ = ["DEFAULT_MAX_BIGNUM_BYTES", "REFUSED_TAGS", "CborSerializer"]

# 1024 bytes is 8192 bits, about 2466 decimal digits: still printable under Python's
# default limit of 4300 digits for int/str conversion, as JSON's ints are.
DEFAULT_MAX_BIGNUM_BYTES = 1024

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

    def __init__(self, *, max_bignum_bytes: int = DEFAULT_MAX_BIGNUM_BYTES, **options: Any) -> None:
        super().__init__(**options)
        self.max_bignum_bytes = max_bignum_bytes
        decoders: dict[int, Callable[[Any, bool], Any]] = {
            tag: _refuse(tag, what) for tag, what in REFUSED_TAGS.items()
        }
        decoders[2] = _bignum(False, max_bignum_bytes)
        decoders[3] = _bignum(True, max_bignum_bytes)
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
        try:
            return cbor2.loads(
                frame,
                max_depth=self.max_depth,
                semantic_decoders=self._semantic_decoders,
                strict_hashable_types=True,
            )
        except cbor2.CBORDecodeError as exc:
            # cbor2 says "error decoding semantic tag 35"; the reason is in the cause.
            cause = exc.__cause__
            raise DecodeError(f"{exc}: {cause}" if cause is not None else str(exc)) from exc


@hookimpl
def register_serializers(register: Any) -> None:
    register(CborSerializer)
