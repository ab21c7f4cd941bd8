"""One event as one NATS message: the name and metadata in headers, the payload in the body.

Headers: ``Zeroevents-Event`` (the event name, UTF-8), ``Content-Type`` (the
serializer's content type), ``Nats-Msg-Id`` (the event id: JetStream drops a
second message with the same id inside the stream's duplicate window, so a
retried publish is stored once), ``traceparent`` when the producer has one, and
the sender's own headers (``push(..., headers=...)``, ``fire(..., headers=...)``),
given back as ``Message.headers``; ``Message.event_id`` is ``Nats-Msg-Id``.

Body: the serializer's frames, one per payload argument, each preceded by its
length as 4 bytes big-endian (an event without arguments has an empty body).
Frame numbers in a :class:`~zeroevents_core.DecodeError` are those of the zmq
wire: 0 is the name (here the header), 1 the first argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from zeroevents_core import ConfigurationError, DecodeError, Message, Serializer

EVENT = "Zeroevents-Event"
CONTENT_TYPE = "Content-Type"
MSG_ID = "Nats-Msg-Id"
TRACEPARENT = "traceparent"
# Set on dead letters: why the event was given up, and where it came from.
FAILURE = "Zeroevents-Failure"
ORIGIN = "Zeroevents-Subject"
DELIVERIES = "Zeroevents-Deliveries"

_PREFIX = 4
# Names the library or the server reads: a sender's headers may not set them.
_RESERVED = frozenset(name.lower() for name in (EVENT, CONTENT_TYPE, "Status", "Description"))
_LIBRARY_PREFIXES = ("nats-", "zeroevents-")

traceparent: ContextVar[str | None] = ContextVar("zeroevents_nats.traceparent", default=None)
"""The W3C trace context that events published in this context carry (set it
from your tracing integration); None: no ``traceparent`` header. A ``traceparent``
among the sender's headers wins over it: the one zeroevents-otel injects."""


def encode_body(frames: Sequence[bytes]) -> bytes:
    """The body of one event: each frame behind its 4-byte big-endian length."""
    parts = []
    for frame in frames:
        parts.append(len(frame).to_bytes(_PREFIX, "big"))
        parts.append(frame)
    return b"".join(parts)


def decode_body(body: bytes, max_frames: int) -> list[bytes]:
    """The payload frames of a body; DecodeError naming the frame (1 = first argument)."""
    frames: list[bytes] = []
    offset, size = 0, len(body)
    while offset < size:
        index = len(frames) + 1
        if len(frames) + 1 >= max_frames:
            raise DecodeError(
                f"more than {max_frames} frames per event in the body "
                "(option 'max_frames', the name included)",
                frame=max_frames,
            )
        if offset + _PREFIX > size:
            raise DecodeError(
                f"the body ends inside the 4-byte length of frame {index}", frame=index
            )
        length = int.from_bytes(body[offset : offset + _PREFIX], "big")
        offset += _PREFIX
        if offset + length > size:
            raise DecodeError(
                f"frame {index} declares {length} bytes, the body has {size - offset} left",
                frame=index,
            )
        frames.append(body[offset : offset + length])
        offset += length
    return frames


def encode_headers(
    event: str,
    serializer: Serializer,
    event_id: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers of one event: the sender's ``extra`` ones (checked), then the library's."""
    headers = {} if extra is None else _checked(event, extra)
    headers[EVENT] = event
    headers[CONTENT_TYPE] = serializer.content_type
    headers[MSG_ID] = event_id
    trace = traceparent.get()
    if trace is not None and TRACEPARENT not in headers:
        headers[TRACEPARENT] = trace
    return headers


def _checked(event: str, extra: Mapping[str, str]) -> dict[str, str]:
    headers = {}
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(
                f"header {name!r} of event {event!r} must be a str with a str value, got {value!r}"
            )
        lowered = name.lower()
        if lowered in _RESERVED or lowered.startswith(_LIBRARY_PREFIXES):
            raise ConfigurationError(
                f"header {name!r} of event {event!r} is the library's or the server's "
                f"(reserved: {EVENT}, {CONTENT_TYPE}, Status, Description, Nats-*, Zeroevents-*)"
            )
        if not name or not name.isascii() or any(c in name for c in ": \t\r\n"):
            raise ConfigurationError(
                f"header {name!r} of event {event!r}: a NATS header name is printable "
                "ASCII without spaces or ':'"
            )
        if "\r" in value or "\n" in value:
            raise ConfigurationError(
                f"header {name!r} of event {event!r}: a NATS header value cannot hold a line break"
            )
        headers[name] = value
    return headers


def decode(
    headers: Mapping[str, str] | None,
    body: bytes,
    serializers: Mapping[str, Serializer],
    *,
    max_name_bytes: int,
    max_frames: int,
    reply_to: Any,
) -> Message:
    """The event in one received message, checked against the receiver's limits.

    ``serializers``: the accepted ones by content type. The name is checked
    before anything else is decoded; the body's frames are decoded by the
    serializer the ``Content-Type`` header names, within its decode budget.
    """
    if not headers or EVENT not in headers:
        raise DecodeError(f"no {EVENT!r} header: not a zeroevents message", frame=0)
    event = headers[EVENT]
    size = len(event.encode("utf-8", "surrogatepass"))
    if size > max_name_bytes:
        raise DecodeError(
            f"header {EVENT!r} of {size} bytes is over the limit of {max_name_bytes} "
            "bytes (option 'max_name_bytes')",
            frame=0,
        )
    if not event:
        raise DecodeError(f"header {EVENT!r} is empty", frame=0)
    content_type = headers.get(CONTENT_TYPE)
    serializer = serializers.get(content_type) if content_type is not None else None
    if serializer is None:
        raise DecodeError(
            f"header {CONTENT_TYPE!r} is {content_type!r}, not one this socket accepts "
            f"({', '.join(sorted(serializers))})",
            frame=0,
        )
    frames = decode_body(body, max_frames)
    try:
        payload = serializer.unserialize(frames)
    except DecodeError as error:
        index = None if error.frame is None else error.frame + 1
        raise DecodeError(error.reason, frame=index, serializer=error.serializer) from None
    # The sender's own headers: what encode_headers let it set.
    own = {
        name: value
        for name, value in headers.items()
        if name.lower() not in _RESERVED and not name.lower().startswith(_LIBRARY_PREFIXES)
    }
    return Message(event, payload, reply_to, own or None, headers.get(MSG_ID))
