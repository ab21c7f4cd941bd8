"""A third-party zeroevents plugin, as small as a real one can be.

``hexjson``: JSON written as hexadecimal text, a real round trip through a codec
of its own (so tests can tell it from ``json``). ``exact``: a matcher with no
wildcards at all. ``synconly``: the memory transport without its asyncio side
(``supports_async = False``), for the capability checks.
"""

from __future__ import annotations

import json
from typing import Any

from zeroevents_core import DecodeError, Matcher, Serializer, hookimpl
from zeroevents_core.transports.memory import MemoryTransport


class HexJsonSerializer(Serializer):
    name = "hexjson"
    content_type = "text/x-hex; inner=application/json"

    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def dumps(self, value: Any) -> bytes:
        # Errors (TypeError, ValueError) are wrapped by the base class into EncodeError.
        return self._encoder.encode(value).encode().hex().encode("ascii")

    def loads(self, frame: bytes) -> Any:
        try:
            raw = bytes.fromhex(bytes(frame).decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecodeError(f"not hexadecimal text: {exc}") from exc
        # Whatever json raises here is wrapped by the base class into DecodeError.
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        _check_depth(value, self.max_depth)
        return value


def _check_depth(value: Any, limit: int) -> None:
    # Honour max_depth like the built-in json serializer: [1] nests 1 deep, 1 nests 0.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list | dict):
            if depth > limit:
                raise DecodeError(f"arrays/objects nest deeper than the limit of {limit}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _reject_constant(constant: str) -> Any:
    # NaN and Infinity are not JSON; dumps refuses them, so loads does too.
    raise ValueError(f"{constant} is not valid JSON")


class ExactMatcher(Matcher):
    """Only exact names: ``orders.*`` matches the name ``orders.*`` and nothing else."""

    name = "exact"

    def __init__(self) -> None:
        self._names: set[str] = set()

    @staticmethod
    def is_wildcard(pattern: str) -> bool:
        return False

    def add(self, pattern: str) -> None:
        self._names.add(pattern)

    def remove(self, pattern: str) -> None:
        self._names.discard(pattern)

    def match(self, name: str) -> list[str]:
        return [name] if name in self._names else []


@hookimpl
def register_serializers(register: Any) -> None:
    register(HexJsonSerializer)


@hookimpl
def register_matchers(register: Any) -> None:
    register(ExactMatcher)


class SyncOnlyTransport(MemoryTransport):
    """Blocking sockets only: the asyncio listeners must refuse it, naming it."""

    name = "synconly"
    supports_async = False


@hookimpl
def register_transports(register: Any) -> None:
    register(SyncOnlyTransport)
