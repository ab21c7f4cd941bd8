"""The ``php`` serializer: PHP ``serialize()`` frames, one per payload argument, pure Python.

Install ``zeroevents-php`` and give ``serializer="php"``: the core finds this
module through the ``zeroevents`` entry-point group. It reads and writes what the
PHP original's ``PhpSerializer`` puts on the wire: one ``serialize($argument)`` per
payload frame.

Carries, both ways:

* ``N;`` None, ``b:1;`` bools, ``i:42;`` ints within 64 bits (PHP's ``int``);
* ``d:0.1;`` floats, NaN and infinities included, written as PHP 8 writes them
  (``serialize_precision = -1``: ``1.0`` is ``d:1;``, ``1e25`` is ``d:1.0E+25;``);
* ``s:5:"bytes";`` strings, their length in bytes: str is written as UTF-8, bytes
  as they are; a received string is a str when it is valid UTF-8, else bytes;
* ``a:2:{...}`` arrays: lists and tuples are written with keys 0..n-1, dicts with
  their int or str keys; a received array is a list when its keys are 0..n-1 in
  order (the empty array too), else a dict.

Refused on decoding, with a :class:`~zeroevents_core.DecodeError` naming the byte
offset: objects (``O:``, ``C:``), enums (``E:``), references (``r:``, ``R:``), escaped
strings (``S:``, never written by ``serialize()``), and anything else. Nothing is
ever instantiated. Decoding is a loop over the frame, never recursion: every
declared length is checked against the bytes left before anything is sliced or
counted, arrays nest at most ``max_depth`` deep, and the core's decode budget
(``max_items`` values and keys, ``max_containers`` arrays per frame) is checked as
each array opens, before its elements are read.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from zeroevents_core import DecodeError, Serializer, hookimpl
from zeroevents_core.serializers.php_floats import php_number

__all__ = ["PhpSerializer"]

_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
# The digits of a 64-bit int. PHP allows leading zeros, so longer digit strings are
# stripped and measured before int(), which would refuse over 4300 digits itself.
_INT_DIGITS: Final = 19

# One token of PHP's unserialize grammar (ext/standard/var_unserializer.re), each
# alternative one group, so that ``lastindex`` says which matched.
_TOKEN = re.compile(
    rb"(N;)"
    rb"|b:([01]);"
    rb"|i:([+-]?[0-9]+);"
    rb"|d:(NAN|-?INF|[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?);"
    rb'|s:([0-9]+):"'
    rb"|a:([0-9]+):\{"
    rb"|(\})"
)
_NULL, _BOOL, _INT, _FLOAT, _STRING, _ARRAY, _END = range(1, 8)
_QUOTE, _SEMICOLON = b'";'
# The fewest bytes an array element takes: key "i:0;" and value "N;".
_MIN_ELEMENT_BYTES: Final = 6

_REFUSED: Final = {
    b"O:": "an object (O:)",
    b"C:": "a custom-serialized object (C:)",
    b"E:": "an enum (E:)",
    b"r:": "a reference (r:)",
    b"R:": "a reference (R:)",
    b"S:": "an escaped string (S:)",
}
_KNOWN: Final = {
    b"N": "null",
    b"b": "bool",
    b"i": "int",
    b"d": "float",
    b"s": "string",
    b"a": "array",
}


def _unexpected(frame: bytes, pos: int) -> DecodeError:
    """Why no token matches at ``pos``: refused, malformed or unknown."""
    if not frame:
        return DecodeError("an empty frame holds no value (serialize() never writes one)")
    if pos >= len(frame):
        return DecodeError(f"the frame ends at byte {pos} before the value is complete")
    seen = frame[pos : pos + 24]
    refused = _REFUSED.get(frame[pos : pos + 2])
    if refused is not None:
        return DecodeError(
            f"{refused} at byte {pos} is refused ({seen!r}): the php serializer reads "
            "only null, bool, int, float, string and array, and never instantiates anything"
        )
    known = _KNOWN.get(frame[pos : pos + 1])
    if known is not None:
        return DecodeError(f"malformed {known} at byte {pos}: {seen!r}")
    return DecodeError(
        f"unexpected {seen!r} at byte {pos}: expected N; b: i: d: s: a: (or }} closing an array)"
    )


def _int(digits: bytes, pos: int) -> int:
    if len(digits) > _INT_DIGITS:
        # PHP skips leading zeros; more digits than that is beyond 64 bits.
        sign = digits[:1] if digits[:1] in (b"-", b"+") else b""
        digits = sign + digits[len(sign) :].lstrip(b"0")
        if len(digits) - len(sign) > _INT_DIGITS:
            raise DecodeError(f"the int at byte {pos} has more digits than a 64-bit int")
    value = int(digits)
    if not _INT_MIN <= value <= _INT_MAX:
        raise DecodeError(f"the int at byte {pos} is beyond 64 bits (PHP_INT_MAX)")
    return value


def _declared(digits: bytes, left: int, what: str, pos: int) -> int:
    """A declared length or count, refused when the ``left`` bytes cannot hold it."""
    # Compared as digits first: int() of a 5000-digit header would be refused itself.
    digits = digits.lstrip(b"0") or b"0"
    count = int(digits) if len(digits) <= len(str(left)) else left + 1
    if count > left:
        if left < 0:
            raise DecodeError(f"the {what} at byte {pos} is cut short: the frame ends inside it")
        shown = digits[:24].decode() + ("..." if len(digits) > 24 else "")
        unit = "bytes" if what == "string" else "elements"
        raise DecodeError(
            f"the {what} at byte {pos} declares {shown} {unit}; the frame has room for {left}"
        )
    return count


def _array(items: list[Any], count: int) -> list[Any] | dict[Any, Any]:
    """Keys and values, alternating, as a list when the keys are 0..n-1 in order."""
    keys = items[::2]
    if keys == list(range(count)):
        return items[1::2]
    return dict(zip(keys, items[1::2], strict=True))


def _float(value: float) -> bytes:
    if math.isfinite(value):
        # PHP's php_gcvt, as json_encode uses it, but with a capital E. float.__repr__:
        # a float subclass may print itself otherwise (numpy's does).
        return b"d:%s;" % php_number(float.__repr__(value)).replace("e", "E").encode()
    if value != value:
        return b"d:NAN;"
    return b"d:INF;" if value > 0 else b"d:-INF;"


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return b's:%d:"%s";' % (len(raw), raw)


def _key(key: Any) -> bytes:
    if type(key) is str:
        raw = key.encode()
        return b's:%d:"%s";' % (len(raw), raw)
    if isinstance(key, int) and not isinstance(key, bool):
        if not _INT_MIN <= key <= _INT_MAX:
            raise ValueError(f"array key {key} is beyond 64 bits: PHP keys are 64-bit ints")
        return b"i:%d;" % key
    if isinstance(key, str | bytes):
        return _string(key)
    raise TypeError(f"PHP array keys are int or str, not {type(key).__name__} ({key!r})")


def _list_keys(count: int) -> list[bytes]:
    return [b"i:%d;" % index for index in range(count)]


class PhpSerializer(Serializer):
    """PHP ``serialize()`` values without objects or references (see the module documentation)."""

    name = "php"
    content_type = "application/x-php-serialized"

    def dumps(self, value: Any) -> bytes:
        out: list[bytes] = []
        # One iterator of (key, value) per open array; nesting is this list, not the
        # call stack, so a deep or cyclic value meets max_depth, never RecursionError.
        open_arrays: list[Any] = []
        pending: Any = iter([(b"", value)])
        max_depth = self.max_depth
        while True:
            for key, item in pending:
                out.append(key)
                kind = type(item)
                # The common exact types first; subclasses and errors in _scalar.
                if kind is str:
                    raw = item.encode()
                    out.append(b's:%d:"%s";' % (len(raw), raw))
                elif kind is int and _INT_MIN <= item <= _INT_MAX:
                    out.append(b"i:%d;" % item)
                elif kind is list or kind is dict or isinstance(item, list | tuple | dict):
                    if len(open_arrays) >= max_depth:
                        raise ValueError(f"arrays nest deeper than the limit of {max_depth}")
                    out.append(b"a:%d:{" % len(item))
                    open_arrays.append(pending)
                    if isinstance(item, dict):
                        pending = zip(map(_key, item), item.values(), strict=True)
                    else:
                        pending = zip(_list_keys(len(item)), item, strict=True)
                    break
                else:
                    out.append(self._scalar(item))
            else:
                if not open_arrays:
                    return b"".join(out)
                out.append(b"}")
                pending = open_arrays.pop()

    @staticmethod
    def _scalar(item: Any) -> bytes:
        if item is None:
            return b"N;"
        if isinstance(item, bool):
            return b"b:1;" if item else b"b:0;"
        if isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                raise ValueError(f"{item} is beyond 64 bits: PHP ints are 64-bit")
            return b"i:%d;" % item
        if isinstance(item, float):
            return _float(item)
        if isinstance(item, str | bytes):
            return _string(item)
        raise TypeError(f"PHP serialize() frames carry no {type(item).__name__} ({item!r:.60})")

    def loads(self, frame: bytes) -> Any:
        end = len(frame)
        match = _TOKEN.match
        max_depth = self.max_depth
        # The core's decode budget: items are values and map keys, an array being
        # one value of its parent (the outermost counts itself); containers are arrays.
        counted, arrays = 0, 0
        # The innermost open array: its offset, declared count, keys and values read
        # so far, and how many keys and values are still to come (even: a key is
        # next). ``items`` is None outside any array. ``outer`` saves the enclosing
        # ones: one list, not the call stack, so nesting never recurses.
        at, count, left = 0, 0, 0
        items: list[Any] | None = None
        outer: list[tuple[int, int, list[Any] | None, int]] = []
        pos = 0
        while True:
            token = match(frame, pos)
            if token is None:
                raise _unexpected(frame, pos)
            kind = token.lastindex
            start, pos = pos, token.end()
            if items is not None:
                if not left:
                    if kind != _END:
                        raise DecodeError(
                            f"the array at byte {at} declares {count} element(s); "
                            f"byte {start} holds more instead of its closing }}"
                        )
                elif kind == _END:
                    raise DecodeError(
                        f"the array at byte {at} declares {count} element(s) and "
                        f"closes at byte {start} after {len(items) // 2}"
                    )
                elif not left & 1 and kind != _STRING and kind != _INT:
                    raise DecodeError(f"the array key at byte {start} is not an int or a string")
            elif kind == _END:
                raise DecodeError(f"unexpected }} at byte {start}: no array is open")
            value: Any
            if kind == _STRING:
                digits = token.group(_STRING)
                if len(digits) < 10:  # the common case, without the check of huge digits
                    length = int(digits)
                    if length > end - pos - 2:
                        length = _declared(digits, end - pos - 2, "string", start)
                else:
                    length = _declared(digits, end - pos - 2, "string", start)
                stop = pos + length
                if frame[stop] != _QUOTE or frame[stop + 1] != _SEMICOLON:
                    raise DecodeError(
                        f"the string at byte {start} is not closed by '\";' at byte {stop}"
                    )
                raw = frame[pos:stop]
                pos = stop + 2
                try:
                    value = raw.decode()
                except UnicodeDecodeError:
                    value = raw
            elif kind == _INT:
                digits = token.group(_INT)
                # Up to 18 digits is always within 64 bits.
                value = int(digits) if len(digits) < 19 else _int(digits, start)
            elif kind == _FLOAT:
                value = float(token.group(_FLOAT))
            elif kind == _ARRAY:
                if len(outer) >= max_depth:
                    raise DecodeError(
                        f"arrays nest deeper than the limit of {max_depth} (at byte {start})"
                    )
                room = (end - pos - 1) // _MIN_ELEMENT_BYTES
                outer.append((at, count, items, left))
                count = _declared(token.group(_ARRAY), room, "array", start)
                counted += count + (len(outer) == 1)
                arrays += 1
                if counted > self.max_items or arrays > self.max_containers:
                    self._over_budget(counted, arrays, start)
                at, items, left = start, [], 2 * count
                continue
            elif kind == _END:
                value = _array(items, count)  # type: ignore[arg-type]  # an array is open
                if type(value) is dict:
                    counted += count  # its keys
                    if counted > self.max_items:
                        self._over_budget(counted, arrays, at)
                at, count, items, left = outer.pop()
            elif kind == _BOOL:
                value = token.group(_BOOL) == b"1"
            else:
                value = None
            if items is None:
                if pos != end:
                    raise DecodeError(f"{end - pos} bytes after the value, from byte {pos}")
                return value
            items.append(value)
            left -= 1

    def _over_budget(self, counted: int, arrays: int, start: int) -> None:
        try:
            self.check_budget(counted, arrays, at_least=True)
        except DecodeError as error:
            raise DecodeError(f"{error.reason} (the array at byte {start})") from None


@hookimpl
def register_serializers(register: Any) -> None:
    register(PhpSerializer)
