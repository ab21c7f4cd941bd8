"""The ``string`` serializer: each argument is sent as its raw bytes.

For peers that exchange plain text or opaque blobs. ``str`` is sent as UTF-8;
anything else is an :class:`~zeroevents_core.EncodeError`. Frames decode to
``str`` when they are valid UTF-8, else to ``bytes``.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from . import Serializer


class StringSerializer(Serializer):
    name = "string"
    content_type = "text/plain; charset=utf-8"

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise TypeError(f"only str and bytes can be sent, got {type(value).__name__}")

    def loads(self, frame: bytes) -> Any:
        try:
            return frame.decode()
        except UnicodeDecodeError:
            return bytes(frame)


@hookimpl
def register_serializers(register: Any) -> None:
    register(StringSerializer)
