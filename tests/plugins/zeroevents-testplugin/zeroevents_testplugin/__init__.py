"""A third-party zeroevents plugin, as small as a real one can be.

``hexjson``: JSON written as hexadecimal text, a real round trip through a codec
of its own (so tests can tell it from ``json``). ``exact``: a matcher with no
wildcards at all. ``tape``: a send-only transport that appends each event to a
file as a JSON line, with a command-line flag of its own (``emit --tape FILE``).
``synconly``: the memory transport without its asyncio side
(``supports_async = False``), for the capability checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zeroevents_core import ConfigurationError, DecodeError, Matcher, Serializer, hookimpl
from zeroevents_core.transports import CliOption, Transport
from zeroevents_core.transports.codec import EventCodec
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


class TapeSocket(EventCodec):
    """Appends each pushed event, encoded by the serializer, to a file."""

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self._init_codec(options["serializer"], False, options["accept"], options["schemas"])
        self.path = path

    def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        # Through the serializer and back, as a receiver would see it.
        name, arguments = self.decode(self.encode(event, payload))
        with self.path.open("a", encoding="utf-8") as tape:
            tape.write(json.dumps({"event": name, "payload": arguments}) + "\n")
        return True

    def flush(self, timeout_ms: int) -> bool:
        return True


def _tape_path(text: str) -> str:
    if not text:
        raise ConfigurationError("--tape: give a file name")
    return text


class TapeTransport(Transport):
    """Send-only: events go to the end of the ``tape`` file."""

    name = "tape"
    defaults: Mapping[str, Any] = {"tape": None}

    @classmethod
    def describe(cls) -> str:
        return "appends events to a file (test plugin)"

    @classmethod
    def cli_options(cls) -> Sequence[CliOption]:
        return (
            CliOption(
                "--tape",
                "tape",
                "the file events are appended to",
                _tape_path,
                ("emit",),
                metavar="FILE",
            ),
        )

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(options["tape"], str):
            raise ConfigurationError(
                f"option 'tape': expected a file name, got {options['tape']!r}"
            )
        return dict(options)

    def dead_letter_options(self, value: Any) -> Mapping[str, Any]:
        raise ConfigurationError("transport 'tape' has no dead letters")

    def open_socket(self, options: Mapping[str, Any], dispatcher: Any) -> TapeSocket:
        return TapeSocket(Path(options["tape"]), options)

    def poller(self, sockets: Sequence[Any], wakeup_fd: int | None = None) -> Any:
        raise ConfigurationError("transport 'tape' only sends")

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        return 0


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
    register(TapeTransport)
    register(SyncOnlyTransport)
