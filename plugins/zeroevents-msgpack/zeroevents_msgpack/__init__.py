"""The ``msgpack`` serializer: MessagePack frames, one per payload argument.

Install ``zeroevents-msgpack`` and give ``serializer="msgpack"``: the core finds
this module through the ``zeroevents`` entry-point group.

Carries None, bools, integers from -2**63 to 2**64 - 1 (wider ones are an
:class:`~zeroevents_core.EncodeError`), floats (NaN and infinities too), str,
bytes, lists (tuples arrive as lists) and dicts whose keys are str or bytes.

Decoding is safe on hostile frames: strings are UTF-8 (``raw=False``), map keys
must be str or bytes (``strict_map_key``: integer keys could be chosen to collide
in a dict and make decoding quadratic), every declared length is bounded by the
frame's own length (a header declaring a 4 GiB string allocates nothing), and
nesting deeper than ``max_depth`` is a :class:`~zeroevents_core.DecodeError`.
"""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped]

from zeroevents_core import DecodeError, Serializer, hookimpl

__all__ = ["MsgpackSerializer"]

# translate() deletes these bytes, keeping those that may start an array or a map
# (fixmap 0x80-0x8f, fixarray 0x90-0x9f, array16/32 0xdc/0xdd, map16/32 0xde/0xdf).
_NOT_CONTAINER_HEADERS = bytes(
    b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF)
)


def _nests_deeper(value: Any, max_depth: int) -> bool:
    """Whether lists/dicts in ``value`` nest deeper than ``max_depth`` (no recursion)."""
    if not isinstance(value, list | dict):
        return False
    stack: list[tuple[list[Any] | dict[Any, Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return False


class MsgpackSerializer(Serializer):
    """MessagePack (msgpack >= 1.0, binary type for bytes, str as UTF-8)."""

    name = "msgpack"
    content_type = "application/msgpack"

    def dumps(self, value: Any) -> bytes:
        try:
            return msgpack.packb(value)  # type: ignore[no-any-return]
        except OverflowError as exc:
            raise OverflowError(
                f"{exc}: msgpack integers must lie between -2**63 and 2**64 - 1"
            ) from exc

    def loads(self, frame: bytes) -> Any:
        size = len(frame)
        try:
            value = msgpack.unpackb(
                frame,
                raw=False,
                strict_map_key=True,
                max_str_len=size,
                max_bin_len=size,
                max_array_len=size,
                max_map_len=size // 2,
                max_ext_len=size,
            )
        except msgpack.StackError as exc:  # its message is empty
            raise DecodeError("arrays/maps nest deeper than msgpack's decoder stack") from exc
        # msgpack's own stack stops at 1024 levels; the configured limit is checked
        # on the decoded value, and only when the frame has enough bytes that could
        # start a container to nest that deep (rare: the common frame skips the walk).
        max_depth = self.max_depth
        if len(frame.translate(None, _NOT_CONTAINER_HEADERS)) > max_depth and _nests_deeper(
            value, max_depth
        ):
            raise DecodeError(f"arrays/maps nest deeper than the limit of {max_depth}")
        return value


@hookimpl
def register_serializers(register: Any) -> None:
    register(MsgpackSerializer)
