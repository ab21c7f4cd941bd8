"""The asyncio ZeroMQ event socket, on ``zmq.asyncio``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from ...delivery import InFlight
from ...errors import SendError
from ...serializers import Serializer
from ...stats import Stats
from .. import Message
from ..codec import (
    CONFIRMED,
    PUSH_ERROR,
    RESERVED,
)
from ..reliable import (
    SEND,
    TAKE,
    WAIT,
    AsyncRetrying,
    FlushReport,
    Outbound,
    delivering,
    settling,
)
from ._barrier import _recv, _send, recv_message
from ._socket import HWM_DROPS
from ._wire import (
    GREET,
    NOBLOCK,
    PUSH,
    RECV,
    SNDMORE,
    Step,
    ZmqEventCodec,
    transport_error,
)
from ._wire import SEND as SEND_FRAMES

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ...schemas import SchemaRegistry


class AsyncEventSocket(AsyncRetrying, ZmqEventCodec, zmq.asyncio.Socket):
    """A ``zmq.asyncio`` socket that pushes and pulls events with ``await``.

    Same options and wire format as :class:`~zeroevents_core.EventSocket`; the
    error events (``zeroevents.push.error``, ``zeroevents.pull.error``,
    ``zeroevents.schema.error``) are fired with ``until_async`` on ``dispatcher``.
    Confirmed pushes on one socket are serialised, so that each waits for its own
    confirmation.
    """

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _confirming: asyncio.Lock
    stats: Stats

    def __init__(
        self,
        context: zmq.Context[Any],
        socket_type: int,
        *,
        serializer: str | Serializer = "json",
        confirmed: bool = False,
        dispatcher: Dispatcher | None = None,
        accept: Collection[str] | None = None,
        schemas: SchemaRegistry | None = None,
    ) -> None:
        super().__init__(context, socket_type)  # type: ignore[misc]
        self._init_event_socket(
            context, socket_type, serializer, confirmed, dispatcher, accept, schemas
        )
        self._confirming = asyncio.Lock()

    async def send_frames(self, frames: Sequence[bytes]) -> None:
        """Send one multipart message (``zmq.Again`` after the send timeout)."""
        if not self._send_now(frames):
            await self.send_multipart(frames)

    def _send_now(self, frames: Sequence[bytes]) -> bool:
        # The fast path: the compiled send, without the Future and the keyword copies
        # of send_multipart (half the cost of a push), when nothing is queued before
        # this message and the socket takes it now; else False (nothing was sent).
        if self._send_futures:
            return False
        last = len(frames) - 1
        try:
            _send(self, frames[0], NOBLOCK | SNDMORE if last else NOBLOCK)
        except zmq.Again:
            return False
        # Once the first frame is taken, ZeroMQ takes the whole message.
        for frame in frames[1:last]:
            _send(self, frame, SNDMORE)
        if last:
            _send(self, frames[last])
        if self._recv_futures:
            # A send may consume the edge of the socket's edge-triggered descriptor:
            # let the waiting receives look again, as pyzmq's own send does.
            self._schedule_remaining_events()  # type: ignore[operator]
        return True

    async def recv_frames(self) -> list[bytes]:
        """Receive one whole multipart message (``zmq.Again`` after the receive timeout)."""
        frames: list[bytes] = await self.recv_multipart()
        return frames

    def recv_ready(self) -> list[bytes] | None:
        """The frames of one message if one is waiting, else None (never blocks); the
        events of a batch one by one, as if each came alone."""
        if self.unbatched:
            return self.unbatched.pop()
        frames = self._recv_ready()
        return frames if frames is None else self._unbatch(frames)

    def _recv_ready(self) -> list[bytes] | None:
        if self.identified:
            return self._recv_identified()
        barrier = self.barrier
        try:
            if barrier.due:  # the first message after a wait: greet a zeroevents sender
                return barrier.recv_greeting(self, NOBLOCK)
            if self.routes_replies:
                return barrier.recv_routed(self, NOBLOCK)
            return recv_message(self, NOBLOCK)
        except zmq.Again:
            barrier.due = True
            return None
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None

    def _recv_identified(self) -> list[bytes] | None:
        try:
            parts = [_recv(self, NOBLOCK, copy=False)]
        except zmq.Again:
            self.barrier.due = True
            return None
        while parts[-1].more:
            parts.append(_recv(self, 0, copy=False))
        return self._identified(parts)

    async def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        address: bytes | None = None,
        seq: int | None = None,
    ) -> Any:
        """Send ``event`` with ``payload`` (to the peer ``reply_to`` on a ROUTER;
        ``address`` is its deprecated name).

        Returns True once sent; in confirmed mode, the ``zeroevents.confirmed``
        :class:`Message`. When the send fails or no confirmation comes within the
        receive timeout, fires ``zeroevents.push.error`` (socket, event, payload,
        reply_to) and returns the first non-None response of its listeners.
        ``headers`` and ``seq``: as :meth:`EventSocket.push`.
        """
        if address is not None:
            reply_to = address
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        if self.outgoing is not None and event not in RESERVED:
            return await self._push_v2(event, payload, reply_to, headers, seq)
        frames = self.encode(event, payload)
        if reply_to is not None:
            frames.insert(0, reply_to)
        handshakes = self.handshakes
        if handshakes is not None and handshakes.failures and handshakes.blocked():
            self.stats.push_errors += 1
            return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)
        confirming = False
        try:
            if self.confirmed and event != CONFIRMED:
                async with self._confirming:
                    await self.send_frames(frames)
                    self.barrier.note_sent()
                    self.has_sent = True
                    confirming = True
                    return await self._drive(self._confirmation(event))
            if not self._send_now(frames):
                await self.send_multipart(frames)
            self.barrier.note_sent()
            self.stats.sent += 1
            if not self.has_sent:  # pyzmq's __setattr__ is slow: set once
                self.has_sent = True
            return True
        except zmq.ZMQError as error:
            if isinstance(error, zmq.Again) and not confirming:  # SNDTIMEO at the HWM
                HWM_DROPS.dropped(self.stats, event, self.last_endpoint)
            self.stats.push_errors += 1
            return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)

    async def push_serialized(
        self,
        event: str,
        frames: list[bytes],
        content_type: str,
        headers: Mapping[str, str] | None,
        seq: int,
    ) -> Any:
        """Wire v2: :meth:`push` of payload frames already serialized as
        ``content_type`` (an outbox row, sent as it was stored), under number ``seq``."""
        return await self._push_v2(event, (), None, headers, seq, (frames, content_type))

    async def _push_v2(
        self,
        event: str,
        payload: Sequence[Any],
        reply_to: bytes | None,
        headers: Mapping[str, str] | None,
        seq: int | None,
        serialized: tuple[list[bytes], str] | None = None,
    ) -> Any:
        assert self.outgoing is not None
        number, outbound = self._outbound(event, payload, reply_to, headers, seq, serialized)
        sent, given = False, []
        handshakes = self.handshakes
        if not (handshakes is not None and handshakes.failures and handshakes.blocked()):
            now = time.monotonic() * 1000
            if self.outgoing.straight(now):
                sent = True
                try:
                    await self.send_frames(outbound.frames)
                except zmq.ZMQError:
                    sent = False
                if sent:
                    self.outgoing.sent(number, outbound, seq is not None, now)
            else:
                timeout = int(self.get(zmq.SNDTIMEO))
                sent, given = await self._deliver(
                    delivering(
                        self.outgoing, self._heard, outbound, number, seq is not None, timeout
                    )
                )
            if sent:
                self.barrier.note_sent()
                if not self.has_sent:
                    self.has_sent = True
        await self._give_up(given)
        if sent:
            return True
        self.stats.push_errors += 1
        return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)

    async def _deliver(self, step: Generator[tuple[str, Any], Any, Any]) -> Any:
        """Run a delivery step (see :mod:`..reliable`) with awaited I/O."""
        outcome: Any = None
        while True:  # as long as the step, whose own loops are bounded
            try:
                kind, arg = step.send(outcome)
            except StopIteration as done:
                return done.value
            outcome = None
            if kind == TAKE:
                outcome = self._take_reply()
            elif kind == WAIT:
                await self.poll(arg)
            else:
                try:
                    if kind == SEND:
                        await self.send_frames(arg[0])
                        outcome = True
                    else:
                        outcome = self._send_now(arg[0])
                except zmq.ZMQError:
                    outcome = False

    async def _give_up(self, given: list[InFlight[Outbound]]) -> None:
        for entry in given:
            self.stats.push_errors += 1
            item = entry.item
            await self.dispatcher.until_async(
                PUSH_ERROR, self, item.event, item.payload, item.reply_to
            )

    async def settle(self, timeout_ms: int) -> FlushReport:
        """:meth:`EventSocket.settle`, awaited."""
        if self.outgoing is None:
            return FlushReport()
        given = await self._deliver(settling(self.outgoing, self._heard, timeout_ms))
        await self._give_up(given)
        report: FlushReport = self.pending_report()
        return report

    def abandon(self) -> list[InFlight[Outbound]]:
        """:meth:`EventSocket.abandon` (the report, ``_give_up``, is awaited)."""
        return self._abandoned()

    async def _drive(self, step: Step) -> Any:
        """Run a shared step (see :mod:`._wire`) with awaited I/O."""
        outcome: Any = None
        error: zmq.ZMQError | None = None
        while True:  # as long as the step, whose own loops are bounded
            try:
                kind, arg = step.send(outcome) if error is None else step.throw(error)
            except StopIteration as done:
                return done.value
            outcome, error = None, None
            try:
                if kind in (RECV, GREET):
                    if arg is not None:
                        self.set(zmq.RCVTIMEO, arg)
                    outcome = await self.recv_multipart()
                elif kind == SEND_FRAMES:
                    await self.send_frames(arg)
                elif kind == PUSH:
                    outcome = await self.push(*arg)
                else:
                    outcome = await arg[0].until_async(*arg[1:])
            except zmq.ZMQError as raised:
                error = raised

    async def flush(self, timeout_ms: int, peers: int = 1) -> bool:
        """Wait until ``peers`` receivers have taken every event sent so far (the
        ``zeroevents.flush`` barrier of :meth:`EventSocket.flush`)."""
        previous = self.get(zmq.RCVTIMEO)
        try:
            async with self._confirming:
                flushed: bool = await self._drive(self._flushing(timeout_ms, peers))
                return flushed
        finally:
            if not self.closed:
                self.set(zmq.RCVTIMEO, previous)

    async def pull(self) -> Any:
        """Receive one event as a :class:`Message`, confirming it in confirmed mode
        (the error events as :meth:`EventSocket.pull` fires them)."""
        try:
            return await self._drive(self._pulling())
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None

    async def confirm(self, message: Message) -> None:
        """Answer ``message`` with ``zeroevents.confirmed`` when confirmed mode (or a
        flush barrier) asks for it."""
        if self.needs_confirmation(message.event):
            await self.push(CONFIRMED, [message.event], message.reply_to)

    async def refuse(self, message: Message, reason: str) -> None:
        """In confirmed mode, the negative confirmation (``rejected``, ``reason``)."""
        if self.confirmed:
            await self.push(*self._refusal(message, reason))

    async def undecodable(self, received: list[bytes]) -> None:
        """In confirmed mode, confirm what cannot be decoded, as the original does."""
        if self.confirmed:
            await self._send_or_raise(self.confirm_undecodable(received), "send a confirmation")

    async def forward(self, message: Message) -> None:
        """Send ``message`` on as it was received (a dead letter), awaited: one with no
        peer waits its send timeout without blocking the loop; SendError if it cannot."""
        await self._send_or_raise(self._forwarded(message), f"forward {message.event!r}")

    async def _send_or_raise(self, frames: list[bytes], doing: str) -> None:
        try:
            await self.send_frames(frames)
        except zmq.ZMQError as error:
            raise transport_error(error, doing, SendError) from None

    async def pull_and_fire(self, dispatcher: Dispatcher | None = None) -> Any:
        """Pull one event and fire it with ``until_async``; return that response."""
        try:
            return await self._drive(self._pulling_and_firing(dispatcher))
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None
