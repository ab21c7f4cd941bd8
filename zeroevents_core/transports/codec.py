"""The wire layout of one event, shared by every socket class (sync and asyncio).

Frame 0 is the event name in UTF-8, then one frame per payload argument, each
encoded on its own by the socket's serializer. A transport that puts frames of
its own before them (a ZeroMQ ROUTER's routing frame) strips them before
decoding and shifts the frame index of a DecodeError. With ``confirmed`` on, a
receiver answers each event with ``zeroevents.confirmed`` carrying the received
event's name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, DecodeError
from ..plugins import get_serializer, lookup
from ..serializers import Serializer
from ..stats import Stats
from . import Message

if TYPE_CHECKING:
    # Only types: importing the package must not load jsonschema.
    from ..schemas import SchemaFailure, SchemaRegistry
    from ..security import Rights

CONFIRMED = "zeroevents.confirmed"
# Sent by a closing sender and always confirmed by the receiver (not fired there):
# once the reply is back, every event sent before it has left the receiver's queue.
FLUSH = "zeroevents.flush"
# A receiver's answer to a sender whose handshake says it speaks the barrier (not fired).
HELLO = "zeroevents.hello"
# A receiver's acknowledgement of at-least-once events (wire v2), as a socket names it.
ACK = "zeroevents.ack"
PUSH_ERROR = "zeroevents.push.error"
PULL_ERROR = "zeroevents.pull.error"
SCHEMA_ERROR = "zeroevents.schema.error"
# Library traffic, never checked against contracts.
RESERVED = frozenset({CONFIRMED, FLUSH, HELLO, ACK})

# Limits on a received message, checked before anything of it is decoded (the
# options ``max_name_bytes`` and ``max_frames``; docs/configuration.md).
DEFAULT_MAX_NAME_BYTES = 255
DEFAULT_MAX_FRAMES = 64


def is_confirmation(reply: Message, event: str) -> bool:
    """Whether ``reply`` confirms ``event``; a late reply to an earlier push that
    timed out does not (the rule of every socket class, sync and asyncio)."""
    return reply.event == CONFIRMED and reply.payload[:1] == [event]


def resolve_serializer(serializer: str | Serializer) -> Serializer:
    """A serializer instance from a registered name or an instance."""
    if isinstance(serializer, Serializer):
        return serializer
    if isinstance(serializer, str):
        return get_serializer(serializer)
    raise ConfigurationError(
        f"serializer must be a registered name or a Serializer instance, got {serializer!r}"
    )


def resolve_accept(accept: Collection[str] | None, serializer: Serializer) -> frozenset[str]:
    """The serializer names a receiver accepts: by default only its own."""
    if accept is None:
        return frozenset({serializer.name})
    if isinstance(accept, str):
        accept = [accept]
    for name in accept:
        lookup("serializer", name)  # unknown names fail here, not on the first message
    return frozenset(accept)


class EventCodec:
    """Encoding, decoding and confirmation rules, mixed into each socket class."""

    _serializer: Serializer
    _accept: frozenset[str]
    confirmed: bool
    can_reply: bool = True  # whether a received event can be answered (confirmed, flush)
    # Broker sockets (nats) ack after the fire: the service then calls
    # settle(message, error) once the listeners returned (error: what one raised).
    settles_after_fire: bool = False
    schemas: SchemaRegistry | None  # contracts checked on send and on receive
    max_name_bytes: int = DEFAULT_MAX_NAME_BYTES  # of frame 0, the event name
    max_frames: int = DEFAULT_MAX_FRAMES  # of one event, the name included
    # On links that authenticate peers: the last received message's sender, and
    # what each sender may fire (see zeroevents_core.security).
    sender: str | None = None
    rights: Rights | None = None
    stats: Stats  # what moved through the socket (transport contract)

    def _init_codec(
        self,
        serializer: str | Serializer,
        confirmed: bool,
        accept: Collection[str] | None,
        schemas: SchemaRegistry | None,
    ) -> None:
        self._serializer = resolve_serializer(serializer)
        self._accept = resolve_accept(accept, self._serializer)
        self._check_accepted(self._serializer)
        self.confirmed = bool(confirmed)
        self.schemas = schemas
        self.stats = Stats()

    def check_outgoing(self, event: str, payload: Sequence[Any]) -> None:
        """Raise :class:`SchemaValidationError` if ``payload`` breaks ``event``'s contract."""
        if self.schemas is not None and event not in RESERVED:
            self.schemas.check(event, payload)

    def check_incoming(
        self, message: Message, schemas: SchemaRegistry | None = None
    ) -> list[SchemaFailure]:
        """The contract failures of a received ``message`` (empty when it may be fired),
        against the socket's contracts or else ``schemas``."""
        registry = self.schemas if self.schemas is not None else schemas
        if registry is None or message.event in RESERVED:
            return []
        return registry.errors(message.event, message.payload)

    def _check_accepted(self, serializer: Serializer) -> None:
        if serializer.name not in self._accept:
            raise ConfigurationError(
                f"serializer {serializer.name!r} is not in this socket's accept list "
                f"({', '.join(sorted(self._accept))})"
            )

    @property
    def serializer(self) -> Serializer:
        """The serializer of this socket; set a registered name or an instance."""
        return self._serializer

    @serializer.setter
    def serializer(self, value: str | Serializer) -> None:
        serializer = resolve_serializer(value)
        self._check_accepted(serializer)
        self._serializer = serializer

    def encode(self, event: str, payload: Sequence[Any] = ()) -> list[bytes]:
        """The frames of ``event`` with ``payload``: the name, then one per argument."""
        try:
            name = event.encode()
        except AttributeError:
            raise ConfigurationError(f"event name must be a str, got {event!r}") from None
        frames = self._serializer.serialize(payload)
        frames.insert(0, name)
        return frames

    def decode(self, frames: Sequence[bytes]) -> tuple[str, list[Any]]:
        """``(event, payload)`` from the frames of one event."""
        # Two comparisons on the hot path; which limit and by how much, off it.
        if len(frames) > self.max_frames or (frames and len(frames[0]) > self.max_name_bytes):
            raise self._over_limit(frames)
        try:
            event = frames[0].decode()
            if not event:
                raise IndexError
            return event, self._serializer.unserialize(frames[1:])
        except (IndexError, UnicodeDecodeError, DecodeError) as exc:
            raise self._locate(exc) from None

    def _over_limit(self, frames: Sequence[bytes]) -> DecodeError:
        # The first frame past the limit, or the name.
        if len(frames) > self.max_frames:
            return DecodeError(
                f"{len(frames)} frames is over the limit of {self.max_frames} frames "
                "per event (option 'max_frames')",
                frame=self.max_frames,
            )
        return DecodeError(
            f"event name of {len(frames[0])} bytes is over the limit of "
            f"{self.max_name_bytes} bytes (option 'max_name_bytes')",
            frame=0,
        )

    def _locate(self, exc: Exception) -> DecodeError:
        # The DecodeError for a failed decode, with the frame index in the event.
        if isinstance(exc, IndexError):
            return DecodeError("no event name: the message is empty", frame=0)
        if isinstance(exc, UnicodeDecodeError):
            return DecodeError(f"event name is not UTF-8: {exc}", frame=0)
        assert isinstance(exc, DecodeError)
        index = None if exc.frame is None else exc.frame + 1
        return DecodeError(exc.reason, frame=index, serializer=exc.serializer)

    def message(self, frames: Sequence[bytes]) -> Message:
        """A :class:`Message` from the frames of one event."""
        event, payload = self.decode(frames)
        return Message(event, payload)

    def needs_confirmation(self, event: str) -> bool:
        # A flush barrier is answered where an answer can go (not on a PULL).
        return event not in (CONFIRMED, HELLO, ACK) and (
            self.confirmed or (event == FLUSH and self.can_reply)
        )
