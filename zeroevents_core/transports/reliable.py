"""Wire v2 and at-least-once on a socket, for any transport that moves frames
(ZeroMQ, memory): the options, the sender's side and the receiver's, written once.

The sans-IO engine is :mod:`..delivery` (the window, the duplicate filter) and the
bytes are :mod:`..envelope`'s; this module puts them on a socket:

- :class:`Outgoing` numbers and encodes what a socket pushes, keeps the window,
  applies acknowledgements and counts in the socket's :class:`~..stats.Stats`;
  :func:`delivering` is one push (room in the window, acknowledgements read,
  retransmissions) as a step that yields what it needs done (:data:`WAIT`,
  :data:`TAKE`, :data:`SEND`, :data:`SEND_NOW`): each socket class drives it its
  way, blocking or awaited, as the ZeroMQ sockets drive their confirmation steps.
- :class:`Retrying` and :class:`AsyncRetrying` give a socket class its retry timer
  (:mod:`.retry_timers`), which runs :func:`on_time` between pushes.
- :class:`Incoming` decodes a v2 event's payload (its content type in the
  socket's ``accept``) and keeps the duplicate filter and what to acknowledge;
  the service asks it (``receipt``) before firing and sends the acknowledgements
  after the fire (``send_acks``), never before.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..delivery import (
    DEFAULT_ACK_EVERY,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_DELIVER_TIMEOUT_MS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PENDING_RANGES,
    DEFAULT_MAX_PRODUCERS,
    DEFAULT_MAX_RETRY_AFTER_MS,
    DEFAULT_RETRY_AFTER_MS,
    DEFAULT_WINDOW,
    Deduplicator,
    InFlight,
    SendWindow,
)
from ..envelope import (
    DEFAULT_MAX_ACK_RANGES,
    DEFAULT_MAX_BATCH_EVENTS,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    EVENT_HEAD,
    EVENT_PREFIX,
    INLINE_PAYLOAD,
    MAX_SEQ,
    NO_HEADERS,
    SEQ_END,
    SEQ_START,
    Ack,
    Envelope,
    Kind,
    Limits,
    decode_ack,
    decode_event,
    decode_header,
    encode_ack,
    encode_event,
    event_id,
    kind_of,
    new_producer_id,
    split_batch,
)
from ..errors import ConfigurationError, DecodeError
from ..plugins import get_serializer
from ..stats import Stats
from . import Message
from .codec import ACK
from .retry_timers import AsyncRetryTimer, RetryTimer, Timer

AT_LEAST_ONCE = "at-least-once"
AT_MOST_ONCE = "at-most-once"

DELIVERY_DEFAULTS: Mapping[str, Any] = {
    "wire": "v1",
    "delivery": AT_MOST_ONCE,
    "window": DEFAULT_WINDOW,
    "retry_after_ms": DEFAULT_RETRY_AFTER_MS,
    "max_retry_after_ms": DEFAULT_MAX_RETRY_AFTER_MS,
    "max_attempts": DEFAULT_MAX_ATTEMPTS,
    "deliver_timeout_ms": DEFAULT_DELIVER_TIMEOUT_MS,
    "dedup_window": DEFAULT_DEDUP_WINDOW,
    "max_producers": DEFAULT_MAX_PRODUCERS,
    "ack_every": DEFAULT_ACK_EVERY,
    "max_pending_ranges": DEFAULT_MAX_PENDING_RANGES,
    "max_headers": DEFAULT_MAX_HEADERS,
    "max_header_bytes": DEFAULT_MAX_HEADER_BYTES,
    "max_ack_ranges": DEFAULT_MAX_ACK_RANGES,
}
_COUNTS = [key for key, value in DELIVERY_DEFAULTS.items() if isinstance(value, int)]
# A sender reads acknowledgements once per this many pushes, or when this long has
# passed since it last did (so that a slow sender's acknowledgements are not late by
# READ_EVERY events), and when the window is full: reading costs a system call. A
# retry that comes due waits for the next read, READ_AFTER_MS late at most.
READ_EVERY = 64
READ_AFTER_MS = 1.0
# Messages one read takes off the socket at most.
READ_LIMIT = 1024
# Event names whose encoded header an Outgoing keeps, and a KnownHeaders (then each
# starts over).
TAILS_KEPT = 1024
HEADERS_KEPT = 1024

# What the step of one push asks its driver for, and what it is sent back.
WAIT = "wait"  # (WAIT, ms) -> None once something may be read, or after ms
TAKE = "take"  # (TAKE, None) -> one received message, or None: never blocks
SEND = "send"  # (SEND, (frames, reply_to)) -> whether sent within the send timeout
SEND_NOW = "send now"  # (SEND_NOW, (frames, reply_to)) -> whether sent, never blocks
Op = tuple[str, Any]


def check_delivery_options(
    options: dict[str, Any], socket_type: str | None, carries: bool, kinds: str
) -> None:
    """Check the delivery keys of ``options`` in place: ``carries`` says whether the
    socket type has a way back for acknowledgements; ``kinds`` names those that do."""
    for key in _COUNTS:
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"option {key!r}: expected an int >= 1, got {value!r}")
    if options["wire"] not in ("v1", "v2"):
        raise ConfigurationError(f"option 'wire': expected 'v1' or 'v2', got {options['wire']!r}")
    delivery = options["delivery"]
    if delivery not in (AT_MOST_ONCE, AT_LEAST_ONCE):
        raise ConfigurationError(
            f"option 'delivery': expected {AT_MOST_ONCE!r} or {AT_LEAST_ONCE!r}, got {delivery!r}"
        )
    if delivery != AT_LEAST_ONCE:
        return
    if not carries:
        raise ConfigurationError(
            f"option 'delivery': {AT_LEAST_ONCE!r} needs a way back for the "
            f"acknowledgements, which a {socket_type} socket has not; it is carried by "
            f"{kinds}"
        )
    if options["confirmed"]:
        raise ConfigurationError(
            f"options 'confirmed' and 'delivery': {AT_LEAST_ONCE!r} replaces confirmed "
            "mode (the original's stop-and-wait): give one of them"
        )
    options["wire"] = "v2"  # at-least-once implies it


def limits_of(options: Mapping[str, Any]) -> Limits:
    """The limits of a received v2 message (and of what this socket sends)."""
    return Limits(
        max_name_bytes=options["max_name_bytes"],
        max_frames=options["max_frames"],
        max_headers=options["max_headers"],
        max_header_bytes=options["max_header_bytes"],
        max_ack_ranges=options["max_ack_ranges"],
    )


class PendingEvent(NamedTuple):
    """An event sent and not acknowledged (yet)."""

    event_id: str
    event: str
    payload: Sequence[Any]
    attempts: int


@dataclass(frozen=True)
class FlushReport:
    """What ``EventListener.flush`` left pending: the events sent and not yet
    acknowledged. ``tracked`` is False on a link that acknowledges nothing
    (at-most-once): nothing is known to be pending there."""

    pending: tuple[PendingEvent, ...] = ()
    tracked: bool = False

    @property
    def count(self) -> int:
        return len(self.pending)

    @property
    def done(self) -> bool:
        """Whether every event sent was acknowledged (always, when not tracked)."""
        return not self.pending


class Outbound(NamedTuple):
    """What the window keeps of one event: enough to send it again and to report it."""

    event: str
    payload: Sequence[Any]
    reply_to: Any
    frames: list[bytes]


class Outgoing:
    """The sending side of one v2 socket: producer id, numbers, the window (at-least-once
    only), counted in ``stats``. ``producer`` and ``first_seq`` resume a producer."""

    def __init__(
        self,
        options: Mapping[str, Any],
        stats: Stats,
        limits: Limits,
        producer: bytes | None = None,
        first_seq: int = 1,
    ) -> None:
        self.producer = new_producer_id() if producer is None else producer
        self.stats = stats
        self.limits = limits
        self.window: SendWindow[Outbound] | None = None
        if options["delivery"] == AT_LEAST_ONCE:
            self.window = SendWindow(
                window=options["window"],
                retry_after_ms=options["retry_after_ms"],
                max_retry_after_ms=options["max_retry_after_ms"],
                max_attempts=options["max_attempts"],
                deliver_timeout_ms=options["deliver_timeout_ms"],
                first_seq=first_seq,
            )
        self._next_seq = first_seq
        self._pushes = 0
        # Retries between pushes (its socket's, see ..retry_timers); None: only pushes,
        # flush and close retransmit (an outbox's sender tends its socket itself).
        self.timer: Timer | None = None
        self.read_ms = 0.0  # when acknowledgements were last read
        self._flags = self.window is not None
        # One payload frame inside the header's frame; not where events are batched
        # (a batch holds each event's frames apart).
        self._inline = options.get("batch_max", 1) <= 1
        # Per event name and content type: the event header after the number.
        self._tails: dict[tuple[str, str], bytes] = {}
        self._head = b""  # the header before the number: magic, kind, flags, producer
        self._inline_head = b""  # the same with the flag INLINE_PAYLOAD

    def encode(
        self,
        event: str,
        frames: list[bytes],
        content_type: str,
        headers: Mapping[str, str] | None,
        seq: int | None = None,
    ) -> tuple[int, list[bytes]]:
        """The number and the v2 frames of one event (payload ``frames`` serialized)."""
        if seq is None:
            seq = self._next_seq if self.window is None else self.window.next_seq
        if not headers and 1 <= seq <= MAX_SEQ:
            # Only the number changes from one event of a name to the next: the rest
            # of the header is encoded (and checked) once per name, then reused.
            tail = self._tails.get((event, content_type))
            if tail is None:
                tail = self._tail(event, content_type)
            number = seq.to_bytes(8, "big")
            if self._inline and len(frames) == 1:
                return seq, [b"", b"".join((self._inline_head, number, tail, frames[0]))]
            return seq, [b"", b"".join((self._head, number, tail)), *frames]
        envelope = Envelope(self.producer, seq, content_type, headers or {}, self._flags)
        return seq, encode_event(envelope, event, frames, self.limits, inline=self._inline)

    def _tail(self, event: str, content_type: str) -> bytes:
        # The header of ``event`` after its number, as encode_event makes it.
        envelope = Envelope(self.producer, 1, content_type, NO_HEADERS, self._flags)
        header = encode_event(envelope, event, (), self.limits)[1]
        if len(self._tails) >= TAILS_KEPT:
            self._tails.clear()
        tail = self._tails[(event, content_type)] = header[SEQ_END:]
        self._head = header[:SEQ_START]
        self._inline_head = header[:4] + bytes([header[4] | INLINE_PAYLOAD]) + header[5:SEQ_START]
        return tail

    def sent(self, seq: int, outbound: Outbound, explicit: bool, now_ms: float) -> None:
        """Count an event handed to the link (in flight, at-least-once)."""
        stats, window = self.stats, self.window
        stats.sent += 1
        if window is None:
            self._next_seq = max(self._next_seq, seq + 1)
            return
        window.send(outbound, now_ms, seq if explicit else None)
        stats.in_flight += 1  # the gauge is set again from the window when it settles
        timer = self.timer
        if timer is not None and timer.idle:
            timer.poke()

    def acknowledge(self, ack: Ack) -> None:
        """Settle what ``ack`` acknowledges (another producer's: nothing)."""
        window = self.window
        if window is None or ack.producer != self.producer:
            return
        acked = window.acknowledge(ack.cumulative, ack.ranges)
        if acked:
            stats, now = self.stats, _now_ms()
            stats.acknowledged += len(acked)
            stats.ack_latency.observe_many([(now - entry.first_sent_ms) / 1000 for entry in acked])
            stats.in_flight = window.in_flight

    def straight(self, now_ms: float) -> bool:
        """Whether a push at ``now_ms`` only sends (room in the window, and
        acknowledgements read less than READ_EVERY pushes and READ_AFTER_MS ago):
        the sockets' fast path, without the step."""
        window = self.window
        if window is None:
            return True
        self._pushes += 1
        # A retry due now waits for that read at most (READ_AFTER_MS): while pushes
        # come, a retry is late by a millisecond at most; between them the socket's
        # retry timer sends it.
        if self._pushes % READ_EVERY and now_ms - self.read_ms < READ_AFTER_MS and window.room:
            return True
        return not window.in_flight  # else nothing to read, nothing due

    def due(self) -> tuple[list[InFlight[Outbound]], list[InFlight[Outbound]]]:
        """What to send again now and what is given up (counted)."""
        assert self.window is not None
        retransmit, failed = self.window.due(_now_ms())
        self.stats.retried += len(retransmit)
        self.stats.failed += len(failed)
        self.stats.in_flight = self.window.in_flight
        return retransmit, failed

    def stop_timer(self) -> None:
        """No more retries between pushes: the socket closes (its close settles)."""
        if self.timer is not None:
            self.timer.stop()

    def abandon(self) -> list[InFlight[Outbound]]:
        """Give up everything in flight (a close whose LINGER is over), counted."""
        if self.window is None:
            return []
        failed = self.window.abandon()
        self.stats.failed += len(failed)
        self.stats.in_flight = 0
        return failed

    def report(self) -> FlushReport:
        if self.window is None:
            return FlushReport()
        pending = tuple(
            PendingEvent(
                event_id(self.producer, entry.seq),
                entry.item.event,
                entry.item.payload,
                entry.attempts,
            )
            for entry in self.window.pending()
        )
        return FlushReport(pending, tracked=True)


def _now_ms() -> float:
    return time.monotonic() * 1000


Given = list[InFlight[Outbound]]
Step = Generator[Op, Any, tuple[bool, Given]]


def tending(outgoing: Outgoing, heard: Callable[[Any], None], wait_ms: int = 0) -> Step:
    """Read what came back (acknowledgements, given to ``heard`` with the rest),
    waiting ``wait_ms`` for it, then send again what is due; the events given up."""
    if wait_ms:
        yield WAIT, wait_ms
    outgoing.read_ms = _now_ms()
    for _ in range(READ_LIMIT):
        received = yield TAKE, None
        if received is None:
            break
        heard(received)
    retransmit, failed = outgoing.due()
    for entry in retransmit:
        yield SEND_NOW, (entry.item.frames, entry.item.reply_to)  # else due again later
    return True, failed


def on_time(
    outgoing: Outgoing, heard: Callable[[Any], None]
) -> Generator[Op, Any, tuple[float | None, Given]]:
    """The retry timer's round (see :mod:`..retry_timers`): what came back read, what
    is due sent again; when the next retry is due (None: nothing in flight, the timer
    is then idle) and the events given up."""
    _, given = yield from tending(outgoing, heard)
    due = None if outgoing.window is None else outgoing.window.next_due_ms()
    if due is None and outgoing.timer is not None:
        outgoing.timer.idle = True
    return due, given


def delivering(
    outgoing: Outgoing,
    heard: Callable[[Any], None],
    outbound: Outbound,
    seq: int,
    explicit: bool,
    send_timeout_ms: int,
) -> Step:
    """One push that :meth:`Outgoing.straight` said is not straight: acknowledgements
    read, what is due sent again, room in the window waited for (``send_timeout_ms``
    at most, -1: no limit), the event sent; whether it was, and the events given up
    on the way."""
    given: Given = []
    window = outgoing.window
    if window is not None:
        _, given = yield from tending(outgoing, heard)
    if window is not None and not window.room:
        deadline = None if send_timeout_ms < 0 else _now_ms() + send_timeout_ms
        while not window.room:  # bounded by the deadline, or by acknowledgements
            left = 100 if deadline is None else min(100, int(deadline - _now_ms()))
            if left <= 0:
                return False, given
            _, failed = yield from tending(outgoing, heard, left)
            given.extend(failed)
    if not (yield SEND, (outbound.frames, outbound.reply_to)):
        return False, given
    outgoing.sent(seq, outbound, explicit, _now_ms())
    return True, given


def settling(
    outgoing: Outgoing, heard: Callable[[Any], None], timeout_ms: int
) -> Generator[Op, Any, Given]:
    """Read acknowledgements and retransmit until nothing is in flight, ``timeout_ms``
    at most (-1: no limit); the events given up on the way."""
    given: Given = []
    window = outgoing.window
    if window is None:
        return given
    deadline = None if timeout_ms < 0 else _now_ms() + timeout_ms
    while window.in_flight:  # bounded by the deadline, or by deliver_timeout_ms
        left = 100 if deadline is None else min(100, int(deadline - _now_ms()))
        if left <= 0:
            break
        _, failed = yield from tending(outgoing, heard, left)
        given.extend(failed)
    return given


class Retrying:
    """The retry timer of a blocking socket class (ZeroMQ's, memory's; see
    :mod:`.retry_timers`): its round runs under the socket's send lock ``_sending``
    and its ``_deliver`` of the step, then reports what it gave up (``_give_up``)."""

    def _retry_timer(self) -> Timer:
        return RetryTimer(self._tend_on_time, "zeroevents-retry-timer")

    def _tend_on_time(self) -> float | None:
        """The timer's round, in its thread."""
        socket: Any = self
        outgoing: Outgoing | None = socket.outgoing
        with socket._sending:
            if socket.closed or outgoing is None:
                return None
            due, given = socket._deliver(on_time(outgoing, socket._heard))
        socket._give_up(given)
        due_ms: float | None = due
        return due_ms


class AsyncRetrying:
    """:class:`Retrying` for an asyncio socket class: the round is a task of its loop."""

    def _retry_timer(self) -> Timer:
        return AsyncRetryTimer(self._tend_on_time)

    async def _tend_on_time(self) -> float | None:
        """The timer's round, in the loop."""
        socket: Any = self
        outgoing: Outgoing | None = socket.outgoing
        if socket.closed or outgoing is None:
            return None
        due, given = await socket._deliver(on_time(outgoing, socket._heard))
        await socket._give_up(given)
        due_ms: float | None = due
        return due_ms


class V2Message(NamedTuple):
    """A decoded v2 event: what a socket makes its Message of."""

    event: str
    payload: list[Any]
    headers: Mapping[str, str]
    envelope: Envelope


# The hot path makes its named tuples without their keyword-handling __new__.
_new = tuple.__new__


def read_v2(codec: Any, body: Sequence[bytes], limits: Limits, offset: int) -> V2Message | Ack:
    """Decode ``body`` (frames without a ROUTER address; ``offset`` 1 after one) that
    :func:`..envelope.kind_of` did not call V1, the payload with the serializer its
    content type names, if ``codec`` accepts it; DecodeError with the wire's index."""
    # An event is told by its first four bytes; anything else is looked at closely.
    kind = Kind.EVENT if body[1][:4] == EVENT_PREFIX else kind_of(body, offset)
    if kind is Kind.ACK:
        return decode_ack(body, limits, offset)
    if kind is Kind.BATCH:  # split by the socket before: one that got here is refused
        most = getattr(codec, "max_batch_events", DEFAULT_MAX_BATCH_EVENTS)
        count = len(split_batch(body, most, limits, offset))
        raise DecodeError(
            f"a batch of {count} events where one event was expected (batches are "
            "read by a service's receive loop, not by pull())",
            frame=offset + 1,
        )
    decoded = decode_event(body, limits, offset)
    envelope = decoded.envelope
    serializer = _serializer_of(codec, envelope.content_type, offset + 1)
    try:
        payload = serializer.unserialize(decoded.frames)
    except DecodeError as error:  # its index is the payload's: two frames before it
        frame = None if error.frame is None else error.frame + offset + 2
        raise DecodeError(error.reason, frame=frame, serializer=error.serializer) from None
    return _new(V2Message, (decoded.event, payload, envelope.headers, envelope))


def _serializer_of(codec: Any, content_type: str, frame: int) -> Any:
    # The serializer of a received content type, if ``codec`` accepts it.
    serializer = codec._serializer
    if content_type == serializer.name:
        return serializer
    if content_type not in codec._accept:
        raise DecodeError(
            f"content type {content_type!r} is not accepted here "
            f"(option 'accept': {', '.join(sorted(codec._accept))})",
            frame=frame,
        )
    return get_serializer(content_type)


class KnownHeaders:
    """The common received event read in one go: its payload inside the header's
    frame, no headers, and the rest of its header after the number (content type,
    name) seen before on this socket, checked then by :func:`..envelope.decode_header`
    and recognised now by its bytes. Anything else returns None from :meth:`read`, and
    goes the long way (:func:`read_v2`), which says what is wrong."""

    def __init__(self, codec: Any, limits: Limits) -> None:
        self._codec, self._limits = codec, limits
        # the header's bytes after the number -> (its flags, content type, name,
        # serializer, whether it asks for an acknowledgement)
        self._known: dict[bytes, tuple[int, str, str, Any, bool]] = {}

    def read(self, header: bytes) -> V2Message | None:
        try:
            prefix, flags, producer, seq, type_length = EVENT_HEAD.unpack_from(header)
            position = SEQ_END + 1 + type_length
            end = position + 4 + (header[position] << 8 | header[position + 1])
        except (struct.error, IndexError):
            return None
        tail = header[SEQ_END:end]
        known = self._known.get(tail)
        if known is None or known[0] != flags or prefix != EVENT_PREFIX:
            if end > len(header) or header[end - 2] or header[end - 1]:
                return None  # cut short, or headers: read the long way
            known = self._learn(header, tail, end)
            if known is None:
                return None
        if not seq:
            return None
        _, content_type, event, serializer, ack_requested = known
        try:
            payload = serializer.unserialize([header[end:]])
        except DecodeError:
            return None
        headers: dict[str, str] = {}
        envelope = _new(Envelope, (producer, seq, content_type, headers, ack_requested))
        return _new(V2Message, (event, payload, headers, envelope))

    def _learn(
        self, header: bytes, tail: bytes, end: int
    ) -> tuple[int, str, str, Any, bool] | None:
        if header[:4] != EVENT_PREFIX or not header[4] & INLINE_PAYLOAD:
            return None
        try:
            envelope, event, at = decode_header(header, self._limits, 1)
            serializer = _serializer_of(self._codec, envelope.content_type, 1)
        except DecodeError:
            return None
        if at != end:
            return None
        if len(self._known) >= HEADERS_KEPT:
            self._known.clear()
        flags, content_type = header[4], envelope.content_type
        known = (flags, content_type, event, serializer, envelope.ack_requested)
        self._known[tail] = known
        return known


class V2Received(Message):
    """A received v2 Message that keeps its envelope (producer, number, flags) for
    :meth:`Acknowledging.receipt`; otherwise a Message."""

    envelope: Envelope


def v2_message(decoded: V2Message | Ack, reply_to: Any) -> Message:
    """The Message a socket makes of what :func:`read_v2` decoded (an acknowledgement
    is library traffic named ``zeroevents.ack``, for the socket's ``control``)."""
    if isinstance(decoded, Ack):
        return Message(ACK, [decoded], reply_to)
    event, payload, headers, envelope = decoded
    message = V2Received(event, payload, reply_to, headers, envelope.event_id)
    message.envelope = envelope
    return message


class Acknowledging:
    """The receiving side of at-least-once on a socket class (the service calls these,
    in both flavours: none blocks): ``incoming`` is set where acknowledgements can go
    back; ``_send_ack(frames, reply_to)`` sends one without blocking."""

    incoming: Incoming | None = None

    def receipt(self, message: Message) -> bool | None:
        """None when ``message`` asks for no acknowledgement; else whether it is a
        duplicate (either way acknowledged by the next :meth:`send_acks`)."""
        envelope = getattr(message, "envelope", None)
        incoming = self.incoming
        if envelope is None or not envelope.ack_requested or incoming is None:
            return None
        incoming.waiting = True
        return incoming.dedup.seen(envelope.producer, envelope.seq, message.reply_to)

    @property
    def acks_due(self) -> bool:
        """Whether acknowledgements should go now, not at the end of the batch."""
        return self.incoming is not None and self.incoming.dedup.ack_due

    @property
    def acks_commit(self) -> bool:
        """Whether taking acknowledgements commits what the fires wrote (a
        ``dedup_store``): a service takes them only between this socket's fires."""
        return self.incoming is not None and self.incoming.store is not None

    @property
    def acks_waiting(self) -> bool:
        return self.incoming is not None and self.incoming.waiting

    def take_acks(self) -> list[tuple[Any, list[bytes]]]:
        """The acknowledgements waiting, to send later with :meth:`send_acks`."""
        return self.incoming.acks() if self.incoming is not None else []

    def send_acks(self, acks: list[tuple[Any, list[bytes]]] | None = None) -> None:
        """Send ``acks`` (default: those waiting); never blocks (one that cannot go now
        is lost: its sender retransmits, and the duplicate is acknowledged again)."""
        for reply_to, frames in self.take_acks() if acks is None else acks:
            self._send_ack(frames, reply_to)

    def pulled_duplicate(self, message: Message) -> bool:
        """``pull()``'s rule: an event is acknowledged when it is handed to the caller
        (there is no fire to wait for); whether it is a duplicate, to skip."""
        duplicate = self.receipt(message)
        if duplicate is None:
            return False
        self.send_acks()
        return duplicate

    def _send_ack(self, frames: list[bytes], reply_to: Any) -> None:
        raise NotImplementedError


class Incoming:
    """The receiving side of one socket: the duplicate filter and the acknowledgements
    waiting to be sent."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        sizes = {
            "dedup_window": options["dedup_window"],
            "max_producers": options["max_producers"],
            "max_pending_ranges": options["max_pending_ranges"],
            "ack_every": options["ack_every"],
        }
        path = options.get("dedup_store")
        self.store: Any = None  # the DedupStore of the socket's dedup_store, open till close()
        if path is None:
            self.dedup = Deduplicator(**sizes)
        else:  # kept across restarts, written before each acknowledgement is sent
            from ..outbox.dedup import DedupStore, DurableDeduplicator

            self.store = DedupStore(path, sync=options.get("dedup_sync", "normal"))
            try:
                self.dedup = DurableDeduplicator(self.store, **sizes)
            except BaseException:
                self.store.close()
                raise
        self.waiting = False  # something to acknowledge

    def acks(self) -> list[tuple[Any, list[bytes]]]:
        """``(reply_to, frames)`` of each acknowledgement to send now."""
        self.waiting = False
        return [(reply_to, encode_ack(ack)) for reply_to, ack in self.dedup.acks()]

    def close(self) -> None:
        """Close the dedup store (what was not acknowledged is rolled back: fired
        again when resent); the socket's close calls it."""
        if self.store is not None:
            self.store.close()


__all__ = [
    "ACK",
    "DELIVERY_DEFAULTS",
    "Acknowledging",
    "AsyncRetrying",
    "FlushReport",
    "Incoming",
    "KnownHeaders",
    "Outbound",
    "Outgoing",
    "PendingEvent",
    "Retrying",
    "V2Message",
    "V2Received",
    "check_delivery_options",
    "delivering",
    "limits_of",
    "on_time",
    "read_v2",
    "settling",
    "tending",
    "v2_message",
]
