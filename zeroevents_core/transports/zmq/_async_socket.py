"""The asyncio ZeroMQ event socket, on ``zmq.asyncio``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from ...serializers import Serializer
from .. import Message
from ..codec import (
    CONFIRMED,
    FLUSH,
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    is_confirmation,
)
from ._wire import NOBLOCK, RCVMORE, SNDMORE, ZmqEventCodec

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ...schemas import SchemaRegistry

# The compiled receive, as the blocking socket uses it: the service drains ready
# messages without a Future per message.
_recv = zmq.backend.Socket.recv
_send = zmq.backend.Socket.send
_get = zmq.backend.Socket.get


class AsyncEventSocket(ZmqEventCodec, zmq.asyncio.Socket):
    """A ``zmq.asyncio`` socket that pushes and pulls events with ``await``.

    Same options and wire format as :class:`~zeroevents_core.EventSocket`; the
    error events (``zeroevents.push.error``, ``zeroevents.pull.error``,
    ``zeroevents.schema.error``) are fired with ``until_async`` on ``dispatcher``.
    Confirmed pushes on one socket are serialised, so that each waits for its own
    confirmation.
    """

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _confirming: asyncio.Lock

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
        """The frames of one message if one is waiting, else None (never blocks)."""
        if self.identified:
            return self._recv_identified()
        barrier = self.barrier
        try:
            if barrier.due:  # the first message after a wait: greet a zeroevents sender
                return barrier.recv_greeting(self, NOBLOCK)
            if self.routes_replies:
                return barrier.recv_routed(self, NOBLOCK)
            frames: list[bytes] = [_recv(self, NOBLOCK)]
        except zmq.Again:
            barrier.due = True
            return None
        while _get(self, RCVMORE):
            frames.append(_recv(self))
        return frames

    def _recv_identified(self) -> list[bytes] | None:
        try:
            parts = [_recv(self, NOBLOCK, copy=False)]
        except zmq.Again:
            self.barrier.due = True
            return None
        while _get(self, RCVMORE):
            parts.append(_recv(self, 0, copy=False))
        return self._identified(parts)

    async def push(
        self, event: str, payload: Sequence[Any] = (), address: bytes | None = None
    ) -> Any:
        """Send ``event`` with ``payload`` (to ``address`` on a ROUTER).

        Returns True once sent; in confirmed mode, the ``zeroevents.confirmed``
        :class:`Message`. When the send fails or no confirmation comes within the
        receive timeout, fires ``zeroevents.push.error`` (socket, event, payload,
        address) and returns the first non-None response of its listeners.
        """
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        frames = self.encode(event, payload)
        if address is not None:
            frames.insert(0, address)
        handshakes = self.handshakes
        if handshakes is not None and handshakes.failures and handshakes.blocked():
            return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, address)
        try:
            if self.confirmed and event != CONFIRMED:
                async with self._confirming:
                    await self.send_frames(frames)
                    self.barrier.note_sent()
                    self.has_sent = True
                    return await self._await_confirmation(event)
            if not self._send_now(frames):
                await self.send_multipart(frames)
            self.barrier.note_sent()
            if not self.has_sent:  # pyzmq's __setattr__ is slow: set once
                self.has_sent = True
            return True
        except zmq.ZMQError:
            return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, address)

    async def _await_confirmation(self, event: str) -> Message:
        timeout = int(self.get(zmq.RCVTIMEO))
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        while True:
            reply = self.message(await self.recv_multipart())
            if is_confirmation(reply, event):
                return reply
            self.barrier.hear(reply)
            if deadline is not None and time.monotonic() >= deadline:
                raise zmq.Again()

    async def flush(self, timeout_ms: int, peers: int = 1) -> bool:
        """Wait until ``peers`` receivers have taken every event sent so far (the
        ``zeroevents.flush`` barrier of :meth:`EventSocket.flush`)."""
        previous = self.get(zmq.RCVTIMEO)
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        try:
            async with self._confirming:
                for _ in range(peers):
                    await self.send_multipart(self.encode(FLUSH))
                for _ in range(peers):
                    left = -1 if deadline is None else int((deadline - time.monotonic()) * 1000)
                    if deadline is not None and left <= 0:
                        return False
                    self.set(zmq.RCVTIMEO, left)
                    await self._await_confirmation(FLUSH)
            return True
        except zmq.ZMQError:
            return False
        finally:
            if not self.closed:
                self.set(zmq.RCVTIMEO, previous)

    async def pull(self) -> Any:
        """Receive one event as a :class:`Message`, confirming it in confirmed mode
        (the error events as :meth:`EventSocket.pull` fires them)."""
        try:
            frames = await self.recv_multipart()
        except zmq.Again:
            return await self.dispatcher.until_async(PULL_ERROR, self)
        message = self.message(frames)
        await self.confirm(message)
        failures = self.check_incoming(message)
        if failures:
            event, payload, address = message
            return await self.dispatcher.until_async(
                SCHEMA_ERROR, event, payload, failures, address
            )
        return message

    async def confirm(self, message: Message) -> None:
        """Answer ``message`` with ``zeroevents.confirmed`` when confirmed mode asks for it."""
        if self.needs_confirmation(message.event):
            await self.push(CONFIRMED, [message.event], message.address)

    async def pull_and_fire(self, dispatcher: Dispatcher | None = None) -> Any:
        """Pull one event and fire it with ``until_async``; return that response."""
        message = await self.pull()
        if not isinstance(message, Message):
            return message
        if message.event in RESERVED:  # library traffic, never fired
            return None
        target = dispatcher if dispatcher is not None else self.dispatcher
        return await target.until_async(message.event, *message.payload)
