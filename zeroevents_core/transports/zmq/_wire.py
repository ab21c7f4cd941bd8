"""What the blocking and the asyncio ZeroMQ sockets share: the ZeroMQ side of the
wire (the routing frame a ROUTER puts before each event and the frame indexes that
follow from it, the confirmation the PHP original sends for a message it cannot
decode, the library traffic) and, written once as sans-IO steps, the logic of
waiting for a confirmation, the flush barrier and ``pull``.

A step is a generator that yields what it needs done (:data:`SEND` frames,
:data:`RECV` one message, :data:`PUSH` an event, :data:`FIRE` an error event) and is
sent the outcome; pyzmq's errors are thrown into it. Each socket class has a thin
driver that does the I/O its way (``recv`` or ``await recv``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

import zmq

from ...delivery import InFlight
from ...envelope import MAGIC, Ack, Limits, event_id
from ...errors import DecodeError, ReceiveError, TransportClosed, TransportError
from ...security import REJECTED
from ...serializers import Serializer
from ...stats import Stats
from .. import Control, Message
from ..batching import Batch, BatchedEvent, in_batch, is_batch, unbatched
from ..codec import (
    ACK,
    CONFIRMED,
    FLUSH,
    HELLO,
    PULL_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    EventCodec,
    is_confirmation,
)
from ..reliable import (
    Acknowledging,
    Incoming,
    KnownHeaders,
    Outbound,
    Outgoing,
    V2Message,
    limits_of,
    read_v2,
)
from ..retry_timers import Timer
from ._barrier import Barrier, _send, recv_message
from ._monitor import Handshakes

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ...schemas import SchemaRegistry

SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)
ROUTER = int(zmq.ROUTER)
# Socket types that can answer what they receive (confirmations, the flush barrier).
_ANSWERING = frozenset({int(zmq.DEALER), int(zmq.PAIR), ROUTER})
# Those with a way back for acknowledgements (at-least-once), as the error names them.
AT_LEAST_ONCE_TYPES = _ANSWERING
AT_LEAST_ONCE_LINKS = "DEALER to ROUTER, DEALER to DEALER and PAIR to PAIR"


# Hellos a pull() skips before it reports that no event came.
HELLOS_SKIPPED = 64

# What a step asks its driver for, and what it is sent back.
SEND = "send"  # (SEND, frames) -> None
RECV = "recv"  # (RECV, timeout_ms or None to keep RCVTIMEO) -> the frames of one message
GREET = "greet"  # (GREET, None) -> as RECV, greeting a zeroevents sender (the barrier)
PUSH = "push"  # (PUSH, (event, payload, reply_to)) -> what push returns
FIRE = "fire"  # (FIRE, (dispatcher, event, *payload)) -> its listeners' first answer (until)
Op = tuple[str, Any]
Step = Generator[Op, Any, Any]


class _FramedMessage(Message):
    """A received Message that keeps its frames, so that a dead letter goes on intact;
    otherwise a Message (its repr, its pickle)."""

    frames: Sequence[bytes]
    envelope: Any = None  # wire v2: the Envelope (producer, number, ...)


# The hot path makes each message (and Outbound) without the named tuple's
# keyword-handling __new__.
_new_message = tuple.__new__


def transport_error(
    error: zmq.ZMQError, doing: str, kind: type[TransportError] = ReceiveError
) -> TransportError:
    """The contract's error for a pyzmq one (none crosses the transport's boundary):
    ``kind``, or TransportClosed for a socket or context already closed."""
    if error.errno in (zmq.ENOTSOCK, zmq.ETERM):
        return TransportClosed(f"cannot {doing}: the socket is closed ({error})")
    return kind(f"cannot {doing}: {error}")


def _default_dispatcher() -> Dispatcher:
    from ...dispatcher import default_dispatcher

    return default_dispatcher()


class ZmqEventCodec(Acknowledging, EventCodec):
    """What the blocking and the asyncio ZeroMQ event sockets share beyond the v1
    layout of :class:`EventCodec`: their set-up and dispatcher, the routing frame,
    library traffic (:meth:`control`), and the sans-IO steps their drivers run."""

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _serializer: Serializer
    _accept: frozenset[str]
    _dispatcher: Dispatcher | None
    schemas: SchemaRegistry | None
    confirmed: bool
    routes_replies: bool  # a ROUTER: frame 0 on the wire is the peer's routing id
    can_reply: bool
    has_sent: bool = False
    barrier: Barrier
    handshakes: Handshakes | None = None  # set by the transport, which watches what it opens
    # CURVE server sockets read each message's sender (libzmq's User-Id).
    identified: bool = False
    zap: bytes | None = None
    # Counters (sent, acknowledged, ...); wire v2: the sending and the receiving side.
    stats: Stats
    outgoing: Outgoing | None = None
    incoming: Incoming | None = None
    limits: Limits
    known_headers: KnownHeaders  # the common v2 event, read in one go
    # Batched mode (wire v2): the events waiting to go together, None when off; the
    # events of a received batch not yet handed out, and how many one may hold.
    batch: Batch | None = None
    unbatched: list[list[bytes]]
    max_batch_events: int

    def _init_event_socket(
        self,
        context: zmq.Context[Any],
        socket_type: int,
        serializer: str | Serializer,
        confirmed: bool,
        dispatcher: Dispatcher | None,
        accept: Collection[str] | None,
        schemas: SchemaRegistry | None,
    ) -> None:
        # Made directly, not by context.socket(): register it so that
        # context.destroy() closes it as it closes the others.
        context._add_socket(self)
        try:
            self._init_codec(serializer, confirmed, accept, schemas)
            # libzmq refuses a larger frame from its length header, before receiving
            # it: no frame the serializer would refuse is ever received whole.
            self.set(zmq.MAXMSGSIZE, self._serializer.max_frame_size)  # type: ignore[attr-defined]
        except BaseException:
            self.close(linger=0)  # type: ignore[attr-defined]
            raise
        self._dispatcher = dispatcher
        self.routes_replies = socket_type == ROUTER
        self.can_reply = socket_type in _ANSWERING
        self.barrier = Barrier()
        self.limits = Limits()
        self.known_headers = KnownHeaders(self, self.limits)
        self.unbatched = []
        self.max_batch_events = 1

    def set_up_delivery(
        self,
        options: Any,
        producer: bytes | None = None,
        first_seq: int = 1,
        on_time: bool = True,
    ) -> None:
        """Wire v2 and at-least-once as the checked ``options`` say (the limits of a
        received message too); ``producer`` and ``first_seq`` resume a producer.
        ``on_time``: a retry timer retransmits between pushes (see
        :mod:`..retry_timers`); without it only pushes, flush and close do."""
        self.limits = limits_of(options)
        self.known_headers = KnownHeaders(self, self.limits)
        if self.can_reply:
            self.incoming = Incoming(options)
        if options["wire"] == "v2":
            self.outgoing = Outgoing(options, self.stats, self.limits, producer, first_seq)
            if on_time and self.outgoing.window is not None:
                self.outgoing.timer = self._retry_timer()
        self.max_batch_events = options["max_batch_events"]
        if options["batch_max"] > 1:
            limit = options["max_frame_bytes"] or self._serializer.max_frame_size
            self.batch = Batch(options["batch_max"], options["linger_ms"], limit)

    def _retry_timer(self) -> Timer:
        """The timer of this socket's retries between pushes (each flavour its own)."""
        raise NotImplementedError

    def confirm_undecodable(self, frames: Sequence[bytes]) -> list[bytes]:
        """The confirmation of a message that cannot be decoded, as the original sends
        it (it confirms every message it takes from the wire, with the name as received)."""
        address = bytes(frames[0]) if self.routes_replies else None
        names = frames[1:2] if self.routes_replies else frames[:1]
        name = bytes(names[0]).decode("utf-8", "replace") if names else ""
        reply = self.encode(CONFIRMED, [name])
        if address is not None:
            reply.insert(0, address)
        return reply

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher if self._dispatcher is not None else _default_dispatcher()

    def message(self, frames: Sequence[bytes]) -> Message:
        """A :class:`Message` from the frames as received, a ROUTER's routing frame
        included (its ``reply_to``); DecodeError with the frame index on the wire.
        Wire v1 and v2 are told apart by their first frame (empty on v2): no option."""
        routed = 1 if self.routes_replies else 0
        if len(frames) == routed + 2 and not frames[routed] and type(frames) is list:
            known = self.known_headers.read(frames[routed + 1])
            if known is not None:  # the common v2 event: _message_v2's, without its layers
                event, payload, headers, envelope = known
                reply_to = bytes(frames[0]) if routed else None
                message = _new_message(_FramedMessage, (event, payload, reply_to))
                message.headers, message.envelope, message.frames = headers, envelope, frames
                message.event_id = event_id(envelope.producer, envelope.seq)
                return message
        if not self.routes_replies:
            if not frames or frames[0] or len(frames) < 2 or frames[1][:3] != MAGIC:
                event, payload = self.decode(frames)
                message = _new_message(_FramedMessage, (event, payload, None))
            else:
                message = self._message_v2(frames, frames, 0, None)
        else:
            if len(frames) < 2:
                raise DecodeError("message has no event frame after the address", frame=1)
            if frames[1] or len(frames) < 3 or frames[2][:3] != MAGIC:
                try:
                    event, payload = self.decode(frames[1:])
                except DecodeError as error:  # indexes in the event: one more on the wire
                    frame = None if error.frame is None else error.frame + 1
                    raise DecodeError(
                        error.reason, frame=frame, serializer=error.serializer
                    ) from None
                message = _new_message(_FramedMessage, (event, payload, bytes(frames[0])))
            else:
                message = self._message_v2(frames, frames[1:], 1, bytes(frames[0]))
        message.frames = frames
        return message

    def _unbatch(self, frames: list[bytes]) -> list[bytes]:
        """A received message, or the first event of a received batch (the others kept
        for the next receives, in order); a batch that cannot be split is returned whole
        for :meth:`message` to refuse."""
        routed = 1 if self.routes_replies else 0
        if not is_batch(frames, routed):
            return frames
        try:
            events: list[list[bytes]] = list(
                unbatched(frames, routed, self.max_batch_events, self.limits, self._serializer)
            )
        except DecodeError:
            return frames
        events.reverse()  # popped from the end
        first = events.pop()
        self.unbatched = events
        return first

    def _message_v2(
        self, frames: Sequence[bytes], body: Sequence[bytes], offset: int, reply_to: Any
    ) -> _FramedMessage:
        # An event of a batch was decoded with the others, unless they were refused.
        decoded: V2Message | Ack | None = None
        if type(frames) is BatchedEvent:
            decoded = frames.decoded
        if decoded is None:
            try:
                decoded = read_v2(self, body, self.limits, offset)
            except DecodeError as error:
                raise in_batch(error, frames, offset) from None
        if isinstance(decoded, Ack):  # library traffic, for control()
            message: _FramedMessage = _new_message(_FramedMessage, (ACK, [decoded], reply_to))
            return message
        event, payload, headers, envelope = decoded
        message = _new_message(_FramedMessage, (event, payload, reply_to))
        message.headers, message.event_id = headers, envelope.event_id
        message.envelope = envelope
        return message

    def _send_ack(self, frames: list[bytes], reply_to: Any) -> None:
        if reply_to is not None:
            frames = [reply_to, *frames]
        last, socket = len(frames) - 1, cast(Any, self)
        try:
            _send(socket, frames[0], NOBLOCK | SNDMORE)
            for frame in frames[1:last]:
                _send(socket, frame, SNDMORE)
            _send(socket, frames[last])
        except zmq.ZMQError:
            pass  # lost: its sender retransmits, and is acknowledged again

    # At-least-once, the sending side: what both drivers share.

    def _heard(self, frames: Sequence[bytes]) -> None:
        """What a sender read back: an acknowledgement, a hello; the rest is dropped."""
        try:
            message = self.message(frames)
        except DecodeError:
            return
        if message.event == ACK:
            if self.outgoing is not None:
                self.outgoing.acknowledge(message.payload[0])
        else:
            self.barrier.hear(message)

    def _take_reply(self) -> list[bytes] | None:
        socket: Any = self
        try:
            return recv_message(socket, NOBLOCK)
        except zmq.Again:
            return None

    def _outbound(
        self,
        event: str,
        payload: Sequence[Any],
        reply_to: Any,
        headers: Any,
        seq: int | None,
        serialized: tuple[list[bytes], str] | None = None,
    ) -> tuple[int, Outbound]:
        assert self.outgoing is not None
        if serialized is None:
            serializer = self._serializer
            encoded = serializer.serialize(payload)
            number, frames = self.outgoing.encode(event, encoded, serializer.name, headers, seq)
        else:
            number, frames = self.outgoing.encode(event, *serialized, headers, seq)
        if reply_to is not None:
            frames.insert(0, reply_to)
        return number, _new_message(Outbound, (event, payload, reply_to, frames))

    def pending_report(self) -> Any:
        """What is in flight (a FlushReport)."""
        from ..reliable import FlushReport

        return self.outgoing.report() if self.outgoing is not None else FlushReport()

    def _abandoned(self) -> list[InFlight[Outbound]]:
        return self.outgoing.abandon() if self.outgoing is not None else []

    def control(self, message: Message) -> Control:
        """A hello is heard (the barrier's negotiation, on a socket that also sends); a
        flush barrier is answered where an answer can go; an acknowledgement is applied
        where this socket sent at-least-once; the rest came unsolicited."""
        if message.event == ACK and self.outgoing is not None:
            self.outgoing.acknowledge(message.payload[0])
            return Control.HANDLED
        if message.event == HELLO:
            self.barrier.hear(message)
            return Control.HANDLED
        if message.event == FLUSH and self.can_reply:
            return Control.ANSWER
        return Control.UNSOLICITED

    def _forwarded(self, message: Message) -> list[bytes]:
        # A dead letter's frames: as received (the routing frame dropped), or encoded.
        frames = getattr(message, "frames", None)
        if frames is None:
            return self.encode(message.event, message.payload)
        return list(frames[1:] if message.reply_to is not None else frames)

    @staticmethod
    def _refusal(message: Message, reason: str) -> tuple[str, list[Any], Any]:
        return CONFIRMED, [message.event, REJECTED, reason], message.reply_to

    # The sans-IO steps, driven by each socket class.

    def _confirmation(self, event: str, timeout_ms: int | None = None) -> Step:
        """Receive until the confirmation of ``event`` (hellos heard on the way);
        zmq.Again once the receive timeout has passed without it."""
        timeout = int(self.get(zmq.RCVTIMEO)) if timeout_ms is None else timeout_ms  # type: ignore[attr-defined]
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        while True:  # bounded by the deadline, or by RCVTIMEO for each receive
            reply = self.message((yield RECV, timeout_ms))
            if is_confirmation(reply, event):
                return reply
            self.barrier.hear(reply)
            if deadline is not None and time.monotonic() >= deadline:
                raise zmq.Again()

    def _flushing(self, timeout_ms: int, peers: int) -> Step:
        """The barrier: one ``zeroevents.flush`` per peer, then each confirmation, within
        ``timeout_ms`` (-1: no limit); whether every one came."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        try:
            for _ in range(peers):
                yield SEND, self.encode(FLUSH)
            for _ in range(peers):
                left = -1 if deadline is None else int((deadline - time.monotonic()) * 1000)
                if deadline is not None and left <= 0:
                    return False
                yield from self._confirmation(FLUSH, left)
            return True
        except zmq.ZMQError:
            return False

    def _pulling(self) -> Step:
        """One event received, confirmed and checked (see ``EventSocket.pull``);
        at-least-once, acknowledged as it is returned, a duplicate skipped."""
        for _ in range(HELLOS_SKIPPED):
            try:
                frames = yield GREET, None
            except zmq.Again:
                return (yield FIRE, (self.dispatcher, PULL_ERROR, self))
            try:
                message = self.message(frames)
            except DecodeError:
                if self.confirmed:  # confirmed as the original confirms: taken from the wire
                    yield SEND, self.confirm_undecodable(frames)
                raise
            if not self.barrier.hear(message) and not self.pulled_duplicate(message):
                break
        else:
            return (yield FIRE, (self.dispatcher, PULL_ERROR, self))
        if self.needs_confirmation(message.event):
            yield PUSH, (CONFIRMED, [message.event], message.reply_to)
        failures = self.check_incoming(message)
        if failures:
            event, payload, reply_to = message.event, message.payload, message.reply_to
            return (yield FIRE, (self.dispatcher, SCHEMA_ERROR, event, payload, failures, reply_to))
        return message

    def _pulling_and_firing(self, dispatcher: Dispatcher | None) -> Step:
        """One event pulled and fired with ``until`` on ``dispatcher`` (default: the
        socket's); its answer. Library traffic is not fired: None."""
        message = yield from self._pulling()
        if not isinstance(message, Message):
            return message
        if message.event in RESERVED:
            return None
        target = dispatcher if dispatcher is not None else self.dispatcher
        return (yield FIRE, (target, message.event, *message.payload))

    def _identified(self, parts: list[zmq.Frame]) -> list[bytes]:
        """The frames of a message received whole as ``zmq.Frame``s on a CURVE server:
        its sender noted (libzmq's User-Id, the key's name), a new peer greeted."""
        sender = parts[-1].get("User-Id")
        self.sender = sender if isinstance(sender, str) else None
        frames = [part.bytes for part in parts]
        barrier = self.barrier
        if barrier.due or (self.routes_replies and barrier.new_peer(frames[0])):
            barrier.greet(self, frames, parts[-1])
        return frames
