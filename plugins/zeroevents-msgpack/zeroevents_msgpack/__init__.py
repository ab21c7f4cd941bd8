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

The decode budget (``max_items``, ``max_containers``): no array or map may declare
more than ``max_items`` entries, and a frame with more bytes that could start a
container than ``max_containers`` (or more bytes than ``max_items``) is decoded with
hooks that count every array and map as msgpack builds it, stopping it at the first
one over the budget: 16 MB of empty arrays cost a fraction of a second, not 41 s and
2.4 GB.
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
        # Bytes that could start an array or a map: an upper bound on the containers.
        headers = len(frame.translate(None, _NOT_CONTAINER_HEADERS))
        try:
            if headers <= self.max_containers and size < self.max_items:
                # Within the budget whatever the frame holds: no item per byte.
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
            else:
                value = self._unpack_counted(frame)
        # Their messages are empty or say nothing of the frame.
        except msgpack.StackError as exc:
            raise DecodeError("arrays/maps nest deeper than msgpack's decoder stack") from exc
        except msgpack.ExtraData as exc:
            raise DecodeError(
                f"{len(exc.extra)} bytes after the value (a frame holds one value)"
            ) from exc
        except msgpack.FormatError as exc:
            raise DecodeError("not MessagePack: a reserved type byte (0xc1)") from exc
        except ValueError as exc:
            if "exceeds max_array_len" in str(exc) or "exceeds max_map_len" in str(exc):
                declared = str(exc).split()[0]
                raise DecodeError(
                    f"an array/map declares {declared} entries, over the limit max_items="
                    f"{self.max_items} (or the frame's length)"
                ) from exc
            raise
        # msgpack's own stack stops at 1024 levels; the configured limit is checked
        # on the decoded value, and only when the frame has enough bytes that could
        # start a container to nest that deep (rare: the common frame skips the walk).
        max_depth = self.max_depth
        if headers > max_depth and _nests_deeper(value, max_depth):
            raise DecodeError(f"arrays/maps nest deeper than the limit of {max_depth}")
        return value

    def _unpack_counted(self, frame: bytes) -> Any:
        """Decode with ``list_hook`` and ``object_hook`` counting what msgpack builds, so
        that it stops at the first container over the budget (no array or map may
        declare more than ``max_items`` entries, so that one is bounded too)."""
        size = len(frame)
        entries = min(size, self.max_items)
        counts = [1, 0]  # items (the frame's value), containers
        max_items, max_containers = self.max_items, self.max_containers
        check = self.check_budget

        def count(container: Any) -> Any:
            counts[0] += len(container) * (2 if isinstance(container, dict) else 1)
            counts[1] += 1
            if counts[0] > max_items or counts[1] > max_containers:
                check(counts[0], counts[1], at_least=True)
            return container

        return msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=entries,
            max_map_len=entries // 2,
            max_ext_len=size,
            list_hook=count,
            object_hook=count,
        )


@hookimpl
def register_serializers(register: Any) -> None:
    register(MsgpackSerializer)
