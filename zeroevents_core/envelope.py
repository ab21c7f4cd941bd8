"""Wire v2: the envelope of an event and the acknowledgement, as frames (no I/O).

A v2 message starts with an **empty frame 0**, where v1 has the event name: the
Python v1 decoder refuses an empty name (``DecodeError``, frame 0) and the PHP
original fires nothing for it (``if ($event = ...)`` is false for ``""``). So a v1
receiver never fires a v2 message under a garbled name. Frame 1 starts with the
magic ``b"ZE\\x02"`` and a kind byte; a v2 receiver tells the two wires apart from
those bytes alone, with no option (:func:`kind_of`).

    event        [b"", header (the event name inside), payload frame, ...]
    event        [b"", header + its one payload frame]   (flag INLINE_PAYLOAD)
    acknowledge  [b"", ack]

The exact bytes, with vectors: docs/wire-format.md, section "Wire v2". Every
length is checked against the receiver's limits before anything is decoded, and
a refusal is a ``DecodeError`` naming the field and the frame's index on the wire.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from .errors import ConfigurationError, DecodeError

MAGIC = b"ZE\x02"
EVENT_KIND = 0x01
ACK_KIND = 0x02
BATCH_KIND = 0x03
EVENT_PREFIX = MAGIC + bytes([EVENT_KIND])
ACK_PREFIX = MAGIC + bytes([ACK_KIND])
BATCH_PREFIX = MAGIC + bytes([BATCH_KIND])
# Flag bits of an event header: the sender wants acknowledgements (at-least-once);
# the event's one payload frame follows the header in its frame (a frame fewer to send
# and receive: the largest per-event cost of a socket pipe).
ACK_REQUESTED = 0x01
INLINE_PAYLOAD = 0x02
_KNOWN_FLAGS = ACK_REQUESTED | INLINE_PAYLOAD
PRODUCER_ID_BYTES = 16
MAX_SEQ = 2**64 - 1

# magic+kind, flags, producer id, sequence number, content type length
# An event header up to its content type's length: prefix, flags, producer, number.
EVENT_HEAD = struct.Struct(">4sB16sQB")
# Where the sequence number sits in an event header: a sender changes only these bytes
# from one event of a name to the next.
SEQ_START = 4 + 1 + PRODUCER_ID_BYTES
SEQ_END = SEQ_START + 8
# magic+kind, flags, producer id, cumulative sequence number, range count
_ACK_HEAD = struct.Struct(">4sB16sQH")
_RANGE = struct.Struct(">QQ")
_U16 = struct.Struct(">H")

# Defaults of the receiving limits (options of the same names, docs/configuration.md);
# the first two are v1's (transports/codec.py), which this module must not import.
DEFAULT_MAX_NAME_BYTES = 255
DEFAULT_MAX_FRAMES = 64
DEFAULT_MAX_HEADERS = 32
DEFAULT_MAX_HEADER_BYTES = 8192
DEFAULT_MAX_ACK_RANGES = 256
DEFAULT_MAX_BATCH_EVENTS = 1024


class Kind(enum.Enum):
    """Which wire a received message speaks, from its first two frames."""

    V1 = "v1"
    EVENT = "v2 event"
    ACK = "v2 acknowledgement"
    BATCH = "v2 batch"


class Limits(NamedTuple):
    """What one received v2 message may hold; the same keys as v1 for the name and
    the frames (``max_frames`` counts the name and the payload frames, as in v1:
    frame 0 and the header are not counted)."""

    max_name_bytes: int = DEFAULT_MAX_NAME_BYTES
    max_frames: int = DEFAULT_MAX_FRAMES
    max_headers: int = DEFAULT_MAX_HEADERS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES  # keys and values, UTF-8, all together
    max_ack_ranges: int = DEFAULT_MAX_ACK_RANGES


DEFAULT_LIMITS = Limits()
NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def new_producer_id() -> bytes:
    """A producer id: 16 random bytes, drawn once per listener instance."""
    return os.urandom(PRODUCER_ID_BYTES)


def event_id(producer: bytes, seq: int) -> str:
    """The id of event ``seq`` of ``producer``: unique as long as producer ids are
    (128 random bits), the same on every retransmission, not a field on the wire."""
    prefix = _id_prefixes.get(producer)
    if prefix is None:
        if len(_id_prefixes) >= _ID_PREFIXES:
            _id_prefixes.clear()
        prefix = _id_prefixes[producer] = producer.hex() + "-"
    return prefix + seq.to_bytes(8, "big").hex()  # 16 hex digits, as f"{seq:016x}"


# Each received event gets its id: the producer's half is made once per producer.
_ID_PREFIXES = 4096
_id_prefixes: dict[bytes, str] = {}
# The receiving path makes its named tuples without their keyword-handling __new__.
_new = tuple.__new__


class Envelope(NamedTuple):
    """Who sent an event and in which order, what its payload frames are made with
    (the serializer's name) and its headers (trace context, user headers)."""

    producer: bytes
    seq: int
    content_type: str
    headers: Mapping[str, str] = NO_HEADERS
    ack_requested: bool = False

    @property
    def event_id(self) -> str:
        return event_id(self.producer, self.seq)


class V2Event(NamedTuple):
    """A decoded v2 event: the payload frames are left to the serializer named by
    ``envelope.content_type``."""

    envelope: Envelope
    event: str
    frames: list[bytes]


class Ack(NamedTuple):
    """A receiver's acknowledgement of ``producer``'s events: every sequence number
    up to ``cumulative`` (0: none) and each ``(first, last)`` range, inclusive."""

    producer: bytes
    cumulative: int
    ranges: tuple[tuple[int, int], ...] = ()


def kind_of(frames: Sequence[bytes], offset: int = 0) -> Kind:
    """Which wire ``frames`` (without a ROUTER address) speak. An empty frame 0
    without the v2 magic next is V1, which the v1 decoder then refuses."""
    if len(frames) < 2 or len(frames[0]) != 0 or frames[1][:3] != MAGIC:
        return Kind.V1
    kind = frames[1][3:4]
    if kind == EVENT_PREFIX[3:]:
        return Kind.EVENT
    if kind == ACK_PREFIX[3:]:
        return Kind.ACK
    if kind == BATCH_PREFIX[3:]:
        return Kind.BATCH
    raise DecodeError(f"unknown v2 message kind {kind.hex() or 'missing'}", frame=offset + 1)


def encode_event(
    envelope: Envelope,
    event: str,
    frames: Sequence[bytes],
    limits: Limits = DEFAULT_LIMITS,
    *,
    inline: bool = False,
) -> list[bytes]:
    """The frames of a v2 event; refuses (``ConfigurationError`` naming the field)
    what a receiver with ``limits`` would refuse. ``inline``: one payload frame goes
    in the header's frame (INLINE_PAYLOAD); any other count, in frames of their own."""
    producer, seq, content_type, headers, ack_requested = envelope
    inline = inline and len(frames) == 1
    flags = (ACK_REQUESTED if ack_requested else 0) | (INLINE_PAYLOAD if inline else 0)
    try:
        raw_type, name = content_type.encode(), event.encode()
        header = EVENT_HEAD.pack(EVENT_PREFIX, flags, producer, seq, len(raw_type))
    except (AttributeError, struct.error):
        raise _refusal(envelope, event) from None
    if len(producer) != PRODUCER_ID_BYTES or not seq or not raw_type or not name:
        raise _refusal(envelope, event)
    if len(name) > min(limits.max_name_bytes, 0xFFFF):
        raise ConfigurationError(
            f"event name of {len(name)} bytes is over the limit of {limits.max_name_bytes} "
            f"bytes (option 'max_name_bytes'): {event[:40]!r}..."
        )
    extra = _encode_headers(headers, limits) if headers else b"\x00\x00"
    parts = (header, raw_type, _U16.pack(len(name)), name, extra)
    if inline:
        return [b"", b"".join((*parts, frames[0]))]
    return [b"", b"".join(parts), *frames]


def _refusal(envelope: Envelope, event: object) -> ConfigurationError:
    # What is wrong in an envelope that could not be encoded (off the hot path).
    producer, seq, content_type = envelope.producer, envelope.seq, envelope.content_type
    if not isinstance(producer, bytes) or len(producer) != PRODUCER_ID_BYTES:
        return ConfigurationError(
            f"producer id must be {PRODUCER_ID_BYTES} bytes, got {producer!r}"
        )
    if not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
        return ConfigurationError(f"sequence number must be an int from 1 to 2**64-1, got {seq!r}")
    if not isinstance(content_type, str) or not 1 <= len(content_type.encode()) <= 255:
        return ConfigurationError(
            f"content type must be a str of 1 to 255 bytes, got {content_type!r}"
        )
    if not isinstance(event, str):
        return ConfigurationError(f"event name must be a str, got {event!r}")
    return ConfigurationError("event name must not be empty")


def _encode_headers(headers: Mapping[str, str], limits: Limits) -> bytes:
    if len(headers) > limits.max_headers:
        raise ConfigurationError(
            f"{len(headers)} headers is over the limit of {limits.max_headers} "
            "(option 'max_headers')"
        )
    out = bytearray(_U16.pack(len(headers)))
    size = 0
    for key, value in headers.items():
        try:
            raw_key, raw_value = key.encode(), value.encode()
        except AttributeError:
            raise ConfigurationError(
                f"header {key!r} must be a str with a str value, got {value!r}"
            ) from None
        if not raw_key:
            raise ConfigurationError("a header key must not be empty")
        size += len(raw_key) + len(raw_value)
        if size > limits.max_header_bytes:
            raise ConfigurationError(
                f"headers are over the limit of {limits.max_header_bytes} bytes at {key!r} "
                "(option 'max_header_bytes')"
            )
        out += _U16.pack(len(raw_key)) + raw_key + _U16.pack(len(raw_value)) + raw_value
    return bytes(out)


def decode_event(
    frames: Sequence[bytes], limits: Limits = DEFAULT_LIMITS, offset: int = 0
) -> V2Event:
    """A :class:`V2Event` from frames :func:`kind_of` called EVENT; ``offset`` is 1
    after a ROUTER address, so that error frame indexes are those of the wire."""
    # The name (in the header) and the payload frames count as in v1; frame 0 does not.
    if len(frames) - 1 > limits.max_frames:
        raise DecodeError(
            f"{len(frames) - 1} frames is over the limit of {limits.max_frames} frames "
            "per event (option 'max_frames')",
            frame=offset + 1 + limits.max_frames,
        )
    header = frames[1]
    envelope, event, end = decode_header(header, limits, offset + 1)
    if not header[4] & INLINE_PAYLOAD:
        return _new(V2Event, (envelope, event, list(frames[2:])))
    if len(frames) > 2:
        raise DecodeError(
            f"{len(frames) - 2} frames after an event whose payload is in its header's "
            "frame (flag 0x02)",
            frame=offset + 2,
        )
    return _new(V2Event, (envelope, event, [header[end:]]))


def decode_header(header: bytes, limits: Limits, frame: int) -> tuple[Envelope, str, int]:
    """The envelope and the event name of an event header (wire frame ``frame``), and
    where the header ends: the frame's end, or where the payload starts
    (INLINE_PAYLOAD); DecodeError saying what is wrong."""
    size = len(header)
    head = EVENT_HEAD.size
    if size < head:
        raise _short("event header", head, 0, size, frame)
    _, flags, producer, seq, type_length = EVENT_HEAD.unpack_from(header)
    # The common header (known flags, no headers) read in one go; anything else, or
    # any doubt, goes the long way below, which names what is wrong.
    position = head + type_length
    if position + 2 <= size and seq and type_length and not flags & ~_KNOWN_FLAGS:
        name_end = position + 2 + (header[position] << 8 | header[position + 1])
        if (
            (name_end + 2 == size or (flags & INLINE_PAYLOAD and name_end + 2 <= size))
            and position + 2 < name_end <= position + 2 + limits.max_name_bytes
            and not header[name_end]
            and not header[name_end + 1]
        ):
            try:
                content_type = header[head:position].decode()
                event = header[position + 2 : name_end].decode()
            except UnicodeDecodeError:
                pass
            else:
                ack_requested = bool(flags & ACK_REQUESTED)
                envelope = _new(Envelope, (producer, seq, content_type, {}, ack_requested))
                return envelope, event, name_end + 2
    if flags & ~_KNOWN_FLAGS:
        raise DecodeError(f"unknown flags {flags:#04x} in the event header", frame=frame)
    if seq == 0:
        raise DecodeError("sequence number 0 (they start at 1)", frame=frame)
    if not type_length:
        raise DecodeError("empty content type", frame=frame)
    position = head + type_length
    content_type = _text(header, head, position, "content type", frame)
    if position + 2 > size:
        raise _short("length of the event name", 2, position, size, frame)
    name_length = header[position] << 8 | header[position + 1]
    if name_length > limits.max_name_bytes:
        raise DecodeError(
            f"event name of {name_length} bytes is over the limit of "
            f"{limits.max_name_bytes} bytes (option 'max_name_bytes')",
            frame=frame,
        )
    if not name_length:
        raise DecodeError("event name is empty", frame=frame)
    event = _text(header, position + 2, position + 2 + name_length, "event name", frame)
    position += 2 + name_length
    if position + 2 > size:
        raise _short("header count", 2, position, size, frame)
    count = header[position] << 8 | header[position + 1]
    position += 2
    if count > limits.max_headers:
        raise DecodeError(
            f"{count} headers is over the limit of {limits.max_headers} (option 'max_headers')",
            frame=frame,
        )
    headers: dict[str, str] = {}
    total = 0  # bytes of keys and values
    for index in range(count):
        # key length, key, value length, value; messages are made only on a refusal
        fields: list[str] = []
        for _ in range(2):
            if position + 2 > size:
                raise _short(_field(index, fields, "length of "), 2, position, size, frame)
            length = header[position] << 8 | header[position + 1]
            position += 2
            total += length
            if total > limits.max_header_bytes:
                raise DecodeError(
                    f"headers are over the limit of {limits.max_header_bytes} bytes at header "
                    f"{index} (option 'max_header_bytes')",
                    frame=frame,
                )
            if position + length > size:
                raise _short(_field(index, fields), length, position, size, frame)
            try:
                fields.append(header[position : position + length].decode())
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    f"{_field(index, fields)} is not UTF-8: {exc}", frame=frame
                ) from None
            position += length
        key, value = fields
        if not key:
            raise DecodeError(f"header key {index} is empty", frame=frame)
        if key in headers:
            raise DecodeError(f"header {key!r} is given twice", frame=frame)
        headers[key] = value
    if position != size and not flags & INLINE_PAYLOAD:
        raise DecodeError(f"{size - position} bytes after the end of the event header", frame=frame)
    envelope = Envelope(producer, seq, content_type, headers, bool(flags & ACK_REQUESTED))
    return envelope, event, position


def _field(index: int, fields: list[str], prefix: str = "") -> str:
    # The name of the header field being read: its key, or its value once the key is read.
    return f"{prefix}header key {index}" if not fields else f"{prefix}header {fields[0]!r}"


def _text(data: bytes, start: int, end: int, what: str, frame: int) -> str:
    if end > len(data):
        raise _short(what, end - start, start, len(data), frame)
    try:
        return data[start:end].decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what} is not UTF-8: {exc}", frame=frame) from None


def _short(what: str, length: int, position: int, size: int, frame: int) -> DecodeError:
    return DecodeError(
        f"{what} needs {length} bytes at offset {position}, {size - position} left", frame=frame
    )


def encode_ack(ack: Ack, limits: Limits = DEFAULT_LIMITS) -> list[bytes]:
    """The frames of an acknowledgement (at most ``limits.max_ack_ranges`` ranges)."""
    if len(ack.producer) != PRODUCER_ID_BYTES:
        raise ConfigurationError(
            f"producer id must be {PRODUCER_ID_BYTES} bytes, got {ack.producer!r}"
        )
    if len(ack.ranges) > limits.max_ack_ranges:
        raise ConfigurationError(
            f"{len(ack.ranges)} ranges is over the limit of {limits.max_ack_ranges} per "
            "acknowledgement (option 'max_ack_ranges')"
        )
    if not 0 <= ack.cumulative <= MAX_SEQ:
        raise ConfigurationError(f"cumulative sequence number {ack.cumulative} is not 0 to 2**64-1")
    out = bytearray(_ACK_HEAD.pack(ACK_PREFIX, 0, ack.producer, ack.cumulative, len(ack.ranges)))
    for first, last in ack.ranges:
        if not 1 <= first <= last <= MAX_SEQ:
            raise ConfigurationError(
                f"acknowledged range ({first}, {last}) is not 1 <= first <= last"
            )
        out += _RANGE.pack(first, last)
    return [b"", bytes(out)]


def decode_ack(frames: Sequence[bytes], limits: Limits = DEFAULT_LIMITS, offset: int = 0) -> Ack:
    """An :class:`Ack` from frames :func:`kind_of` called ACK."""
    if len(frames) != 2:
        raise DecodeError(
            f"an acknowledgement is 2 frames, got {len(frames)}", frame=offset + min(len(frames), 2)
        )
    frame = offset + 1
    data = frames[1]
    size, head = len(data), _ACK_HEAD.size
    if size < head:
        raise _short("acknowledgement", head, 0, size, frame)
    _, flags, producer, cumulative, count = _ACK_HEAD.unpack_from(data)
    if flags:
        raise DecodeError(f"unknown flags {flags:#04x} in the acknowledgement", frame=frame)
    if count > limits.max_ack_ranges:
        raise DecodeError(
            f"{count} ranges is over the limit of {limits.max_ack_ranges} per acknowledgement "
            "(option 'max_ack_ranges')",
            frame=frame,
        )
    end = head + _RANGE.size * count
    if size < end:
        index, position = divmod(size - head, _RANGE.size)
        raise _short(f"range {index}", _RANGE.size, size - position, size, frame)
    if size > end:
        raise DecodeError(f"{size - end} bytes after the end of the acknowledgement", frame=frame)
    ranges = tuple(_RANGE.iter_unpack(data[head:]))
    for index, (first, last) in enumerate(ranges):
        if not 1 <= first <= last:
            raise DecodeError(
                f"range {index} ({first}, {last}) is not 1 <= first <= last", frame=frame
            )
    return Ack(producer, cumulative, ranges)


# A batch: several v2 events in one frame (docs/wire-format.md, "A batch"). Each event
# is its own header (event name, number, headers inside) and payload frames, as sent
# alone; one frame for all because a frame is the largest per-event cost of a pipe.
_BATCH_HEAD = struct.Struct(">4sH")  # magic+kind, event count
_U32 = struct.Struct(">I")
_ONE_PAYLOAD = struct.Struct(">HI")  # an event's frame count, 1, and its one frame's length


def encode_batch(events: Sequence[Sequence[bytes]]) -> list[bytes]:
    """The frames of a batch of ``events``, each the frames :func:`encode_event` made
    (``[b"", header, *payload]``); 1 to 65535 of them."""
    if not 1 <= len(events) <= 0xFFFF:
        raise ConfigurationError(f"a batch holds 1 to 65535 events, got {len(events)}")
    parts = [_BATCH_HEAD.pack(BATCH_PREFIX, len(events))]
    pack, one_payload = _U32.pack, _ONE_PAYLOAD.pack
    for frames in events:
        header = frames[1]
        if len(frames) == 3:  # one payload frame, the common case: a pack fewer
            parts += (pack(len(header)), header, one_payload(1, len(frames[2])), frames[2])
            continue
        parts += (pack(len(header)), header, _U16.pack(len(frames) - 2))
        for frame in frames[2:]:
            parts += (pack(len(frame)), frame)
    return [b"", b"".join(parts)]


def split_batch(
    frames: Sequence[bytes], max_events: int, limits: Limits = DEFAULT_LIMITS, offset: int = 0
) -> list[list[bytes]]:
    """The events of a batch (frames :func:`kind_of` called BATCH), each as the frames
    of a v2 event (``[b"", header, *payload]``), to decode one by one; the count, the
    lengths and each event's frame count checked against ``max_events`` and ``limits``
    before anything is copied. DecodeError naming the wire's frame and the event."""
    frame = offset + 1
    if len(frames) != 2:
        raise DecodeError(
            f"a batch is 2 frames, got {len(frames)}", frame=offset + min(len(frames), 2)
        )
    data = frames[1]
    size = len(data)
    if size < _BATCH_HEAD.size:
        raise _short("batch header", _BATCH_HEAD.size, 0, size, frame)
    count = data[4] << 8 | data[5]
    if not count:
        raise DecodeError("a batch of 0 events", frame=frame)
    if count > max_events:
        raise DecodeError(
            f"a batch of {count} events is over the limit of {max_events} "
            "(option 'max_batch_events')",
            frame=frame,
        )
    events: list[list[bytes]] = []
    position = _BATCH_HEAD.size
    unpack = _U32.unpack_from
    max_frames = limits.max_frames
    for index in range(count):
        if position + 4 > size:
            raise _short(f"event {index}: header length", 4, position, size, frame)
        (length,) = unpack(data, position)
        position += 4
        end = position + length
        if end + 2 > size:
            raise _short(f"event {index}: header", length + 2, position, size, frame)
        event = [b"", data[position:end]]
        payloads = data[end] << 8 | data[end + 1]
        position = end + 2
        if payloads + 1 > max_frames:
            raise DecodeError(
                f"event {index}: {payloads + 1} frames is over the limit of {max_frames} "
                "frames per event (option 'max_frames')",
                frame=frame,
            )
        for _ in range(payloads):
            if position + 4 > size:
                raise _short(f"event {index}: frame length", 4, position, size, frame)
            (length,) = unpack(data, position)
            position += 4
            end = position + length
            if end > size:
                raise _short(f"event {index}: frame", length, position, size, frame)
            event.append(data[position:end])
            position = end
        events.append(event)
    if position != size:
        raise DecodeError(f"{size - position} bytes after the last event of the batch", frame=frame)
    return events


def decode_batch_headers(
    headers: Sequence[bytes], limits: Limits = DEFAULT_LIMITS, frame: int = 1
) -> list[tuple[Envelope, str] | None]:
    """The envelope and event name of each event header of a batch; None for one
    that is refused (decoded alone later, to say why). A header that differs from
    the one before only in its sequence number (a run of one name from one sender)
    reuses what was read of it: the common batch reads one header in full."""
    read: list[tuple[Envelope, str] | None] = []
    head = tail = b""
    previous: tuple[Envelope, str] | None = None
    new = tuple.__new__
    for header in headers:
        if previous is not None and header[SEQ_END:] == tail and header[:SEQ_START] == head:
            seq = int.from_bytes(header[SEQ_START:SEQ_END], "big")
            if seq:
                envelope, event = previous
                # Each its own headers: a handler may change those of its event.
                extra = dict(envelope.headers) if envelope.headers else {}
                fields = (envelope.producer, seq, envelope.content_type, extra)
                read.append((new(Envelope, (*fields, envelope.ack_requested)), event))
                continue
        try:
            if header[:4] != EVENT_PREFIX:  # not an event's: refused alone
                raise DecodeError("not an event header", frame=frame)
            if header[4:5] and header[4] & INLINE_PAYLOAD:  # a batch gives frames apart
                raise DecodeError("an event header of a batch with flag 0x02", frame=frame)
            envelope, event, _ = decode_header(header, limits, frame)
            previous = envelope, event
        except DecodeError:
            previous = None
            read.append(None)
            continue
        head, tail = header[:SEQ_START], header[SEQ_END:]
        read.append(previous)
    return read
