"""The batched mode of wire v2 (options ``batch_max``, ``linger_ms``), without I/O:
what a sending socket keeps until it sends several events as one message, and how a
receiving socket turns a batch back into one message per event.

Each event of a batch is encoded, numbered and counted (in the at-least-once window
too) as it would be alone; the batch only changes how many go in one ZeroMQ message.
So a receiver checks, deduplicates, fires and acknowledges each on its own. The
layout is :func:`..envelope.encode_batch`'s (docs/wire-format.md, "A batch").

With ``linger_ms = 0`` a socket tries to send at each push: an event goes alone when
the link takes it at once; it waits only while the link is busy (the previous send in
progress, the queue at its high-water mark), and those that waited go together. With
``linger_ms > 0`` an event may wait that long for others. ``batch_max`` events, or
``max_bytes`` (the receiver's frame limit), send at once either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..envelope import (
    BATCH_PREFIX,
    DEFAULT_MAX_BATCH_EVENTS,
    Limits,
    decode_batch_headers,
    encode_batch,
    split_batch,
)
from ..errors import ConfigurationError, DecodeError
from ..serializers import Serializer
from .reliable import V2Message

DEFAULT_BATCH_MAX = 1  # off
DEFAULT_LINGER_MS = 0
# With linger_ms = 0, how long events left behind by a busy link wait for the next
# push before the socket's flusher sends them (blocking): a retry, not a linger.
RETRY_MS = 1.0

BATCH_DEFAULTS = {
    "batch_max": DEFAULT_BATCH_MAX,
    "linger_ms": DEFAULT_LINGER_MS,
    "max_batch_events": DEFAULT_MAX_BATCH_EVENTS,
}


def check_batch_options(options: dict[str, Any], batches: bool) -> None:
    """Check ``batch_max`` and ``linger_ms`` in place (``batches``: whether the
    transport sends batches); batching needs wire v2, since v1 peers (the PHP
    original) cannot read a batch."""
    batch_max, linger_ms = options["batch_max"], options["linger_ms"]
    most = options["max_batch_events"]
    if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= 0xFFFF:
        raise ConfigurationError(
            f"option 'max_batch_events': expected an int from 1 to 65535, got {most!r}"
        )
    if not isinstance(batch_max, int) or isinstance(batch_max, bool) or not 0 < batch_max < 2**16:
        raise ConfigurationError(
            f"option 'batch_max': expected an int from 1 (off) to 65535 events, got {batch_max!r}"
        )
    if isinstance(linger_ms, bool) or not isinstance(linger_ms, int) or linger_ms < 0:
        raise ConfigurationError(
            f"option 'linger_ms': expected milliseconds, an int >= 0, got {linger_ms!r}"
        )
    if batch_max == 1:
        return
    if not batches:
        raise ConfigurationError("option 'batch_max': this transport sends no batches")
    if options["wire"] != "v2":
        raise ConfigurationError(
            "option 'batch_max': batches are wire v2 (give 'wire': 'v2'); a wire v1 "
            "receiver, such as the PHP original, cannot read them"
        )
    if options["confirmed"]:
        raise ConfigurationError(
            "options 'batch_max' and 'confirmed': confirmed mode waits for each event's "
            "confirmation before the next, so nothing can go together"
        )


class Batch:
    """The events a socket holds until they go as one message: the frames of each
    (as :func:`..envelope.encode_event` made them) and what to report of them."""

    def __init__(self, batch_max: int, linger_ms: int, max_bytes: int) -> None:
        self.batch_max = batch_max
        self.linger_ms = linger_ms
        self.max_bytes = max_bytes
        self.events: list[list[bytes]] = []
        self.items: list[Any] = []  # what a failed send reports, one per event
        self.size = 0  # bytes in the batch frame so far (its 6-byte head aside)
        self.first_ms = 0.0  # when the oldest event waiting was added

    def __len__(self) -> int:
        return len(self.events)

    def add(self, frames: list[bytes], size: int, item: Any, now_ms: float) -> bool:
        """Keep one event of ``size`` bytes (:func:`batch_bytes`; one that does not fit,
        ``size + self.size > max_bytes``, is for the caller to send first); whether the
        batch is full (to send now)."""
        events = self.events
        if not events:
            self.first_ms = now_ms
        events.append(frames)
        self.items.append(item)
        self.size += size
        return len(events) >= self.batch_max

    def due_ms(self) -> float | None:
        """When what waits must go (None: nothing waits)."""
        if not self.events:
            return None
        return self.first_ms + (self.linger_ms or RETRY_MS)

    def lingers(self, now_ms: float) -> bool:
        """Whether what waits may wait longer than this push (``linger_ms`` > 0)."""
        return bool(self.linger_ms) and now_ms < self.first_ms + self.linger_ms

    def take(self) -> tuple[list[bytes], list[Any]]:
        """The message to send (a lone event as it is, several as a batch) and the
        items of its events; the batch is empty after."""
        events, items = self.events, self.items
        self.events, self.items, self.size = [], [], 0
        frames = events[0] if len(events) == 1 else encode_batch(events)
        return frames, items


def batch_bytes(frames: Sequence[bytes]) -> int:
    """What an event adds to a batch frame: its header and payload and their lengths."""
    if len(frames) == 3:  # one payload frame: the common case
        return 14 + len(frames[1]) + len(frames[2])
    return 6 + sum(len(frame) + 4 for frame in frames[1:])


class BatchedEvent(list[bytes]):
    """The frames of one event taken out of a batch (a v2 event's), with its index
    there, so that a refusal names it, and what was decoded of it with the others
    (None: decoded alone, as a lone event is)."""

    batch_index: int = 0
    decoded: V2Message | None = None


def is_batch(frames: Sequence[bytes], routed: int) -> bool:
    """Whether ``frames`` (after ``routed`` routing frames) are a batch."""
    return (
        len(frames) == routed + 2 and not frames[routed] and frames[routed + 1][:4] == BATCH_PREFIX
    )


def unbatched(
    frames: Sequence[bytes],
    routed: int,
    max_events: int,
    limits: Limits,
    serializer: Serializer | None = None,
) -> list[BatchedEvent]:
    """The events of the batch ``frames``, each as the frames of a lone v2 event (the
    routing frame in front of each on a ROUTER); DecodeError as :func:`split_batch`.
    With ``serializer``: those in its content type decoded in one pass (headers read
    once per run, payloads by its ``unserialize_many``); when it refuses any, none is,
    and each is decoded alone, so that only the bad one is refused, with its index."""
    head = list(frames[:routed])
    split = split_batch(frames[routed:], max_events, limits, routed)
    events = []
    for index, event in enumerate(split):
        one = BatchedEvent(head + event) if head else BatchedEvent(event)
        one.batch_index = index
        events.append(one)
    if serializer is not None:
        _decode_together(events, split, serializer, limits, routed + 1)
    return events


def _decode_together(
    events: list[BatchedEvent],
    split: list[list[bytes]],
    serializer: Serializer,
    limits: Limits,
    frame: int,
) -> None:
    name = serializer.name
    read = decode_batch_headers([event[1] for event in split], limits, frame)
    ready = [
        (one, header, event[2:])
        for one, header, event in zip(events, read, split, strict=True)
        if header is not None and header[0].content_type == name
    ]
    try:
        payloads = serializer.unserialize_many([payload for _, _, payload in ready])
    except DecodeError:
        return
    for (one, (envelope, event), _), payload in zip(ready, payloads, strict=True):
        one.decoded = V2Message(event, payload, envelope.headers, envelope)


def in_batch(error: DecodeError, frames: Sequence[bytes], offset: int) -> DecodeError:
    """``error`` for an event taken out of a batch: naming its index and the batch's
    frame on the wire."""
    index = getattr(frames, "batch_index", None)
    if index is None:
        return error
    return DecodeError(f"event {index} of a batch: {error.reason}", frame=offset + 1)
