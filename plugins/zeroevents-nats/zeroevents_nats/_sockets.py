"""The ``nats`` event sockets (blocking and asyncio) and the pollers a service waits on.

A socket publishes what it is pushed and, with a ``durable`` option, receives from
that pull consumer. The service drives received events through the transport
contract: ``recv_ready()`` hands out one fetched message, ``message()`` decodes
it, and after the fire ``settle(message, error)`` acks it (every listener
returned) or naks it with the ``backoff_ms`` delay (a listener raised); after
``max_deliver`` failed deliveries, and at once for an undecodable or a
contract-breaking event, it goes to the ``dead_letter`` subject and is terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import select
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from nats.aio.msg import Msg

from zeroevents_core import ConfigurationError, DecodeError, Dispatcher, Message, Serializer
from zeroevents_core.errors import SendError, TransportClosed
from zeroevents_core.plugins import get_serializer
from zeroevents_core.stats import Stats
from zeroevents_core.transports import Control
from zeroevents_core.transports.codec import (
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    resolve_accept,
    resolve_serializer,
)

from ._link import Delivery, Link, LoopThread
from ._options import is_subject, subject_of
from ._wire import decode, encode_body, encode_headers

if TYPE_CHECKING:
    from zeroevents_core.schemas import SchemaFailure, SchemaRegistry
    from zeroevents_core.security import Rights

# Event names checked as subjects, remembered (bounded: names come from code).
_SUBJECTS_KEPT = 4096


def _delivery(message: Message) -> Delivery:
    """The :class:`Delivery` a socket put in ``message.reply_to`` (opaque to the core)."""
    delivery: Delivery = message.reply_to
    return delivery


def _described(error: BaseException) -> str:
    return f"a listener raised {type(error).__name__}: {error}"


class _NatsCodec:
    """What both flavours share: options, encoding to one message, decoding, contracts."""

    # The service settles each fired event through settle() (acks after the fire).
    settles_after_fire: ClassVar[bool] = True
    confirmed = False
    can_reply = False
    sender: str | None = None
    rights: Rights | None = None
    schemas: SchemaRegistry | None
    link: Link

    def _init_codec(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        self.options = options
        self.dispatcher = dispatcher
        self.stats = Stats()  # the transport contract's counters
        self._serializer = resolve_serializer(options["serializer"])
        self._accept = resolve_accept(options["accept"], self._serializer)
        if self._serializer.name not in self._accept:
            raise ConfigurationError(
                f"serializer {self._serializer.name!r} is not in this socket's accept list "
                f"({', '.join(sorted(self._accept))})"
            )
        accepted = [get_serializer(name) for name in sorted(self._accept)]
        self._by_type = {s.content_type: s for s in accepted}
        self._by_type[self._serializer.content_type] = self._serializer
        self.schemas = options["schemas"]
        self._prefix = options["subject_prefix"]
        self._max_name_bytes = options["max_name_bytes"]
        self._max_frames = options["max_frames"]
        # Event ids: this socket's random id and a sequence, unique without a uuid each.
        self._id_prefix = uuid.uuid4().hex + "-"
        self._ids = itertools.count(1)
        self._subjects: dict[str, str] = {}
        self.link = Link(options)
        self.closed = False
        self._last_decoded: tuple[Msg, Message | DecodeError] | None = None

    @property
    def serializer(self) -> Serializer:
        return self._serializer

    @serializer.setter
    def serializer(self, value: str | Serializer) -> None:
        serializer = resolve_serializer(value)
        if serializer.name not in self._accept:
            raise ConfigurationError(
                f"serializer {serializer.name!r} is not in this socket's accept list "
                f"({', '.join(sorted(self._accept))})"
            )
        self._serializer = serializer

    def _subject(self, event: str) -> str:
        subject = self._subjects.get(event)
        if subject is None:
            if not isinstance(event, str):
                raise ConfigurationError(f"event name must be a str, got {event!r}")
            subject = subject_of(self._prefix, event)
            if not is_subject(subject, wildcards=False) or event in RESERVED:
                raise SendError(
                    f"event {event!r} cannot be published on NATS: subject {subject!r} must "
                    "be tokens separated by '.', without spaces, '*' or '>'"
                )
            if len(self._subjects) >= _SUBJECTS_KEPT:
                self._subjects.clear()
            self._subjects[event] = subject
        return subject

    def _prepare(self, event: str, payload: Sequence[Any]) -> tuple[str, bytes, dict[str, str]]:
        """Subject, body and headers of one event, checked (contract, max_payload)."""
        if self.closed:
            raise TransportClosed(f"event {event!r} pushed on a closed nats socket")
        subject = self._subject(event)
        if self.schemas is not None:
            self.schemas.check(event, payload)
        body = encode_body(self._serializer.serialize(payload))
        headers = encode_headers(event, self._serializer, f"{self._id_prefix}{next(self._ids)}")
        self.link.check_size(subject, body, headers)
        return subject, body, headers

    def recv_ready(self) -> Msg | None:
        """One fetched message, or None: never blocks."""
        ready = self.link.ready
        return ready.popleft() if ready else None

    def message(self, received: Msg) -> Message:
        """Decode; an undecodable message is dead-lettered and terminated, then raised.

        Asked again for the same message (a caller that decodes before the service
        does, as ``zeroevents listen``), it answers the same without settling twice."""
        last = self._last_decoded
        if last is not None and last[0] is received:
            if isinstance(last[1], DecodeError):
                raise last[1]
            return last[1]
        try:
            message = self._decode(received)
        except DecodeError as error:
            self._last_decoded = (received, error)
            raise
        self._last_decoded = (received, message)
        return message

    def _decode(self, received: Msg) -> Message:
        delivery = Delivery(received)
        try:
            message = decode(
                received.headers,
                received.data,
                self._by_type,
                max_name_bytes=self._max_name_bytes,
                max_frames=self._max_frames,
                reply_to=delivery,
            )
        except DecodeError as error:
            self._give_up(delivery, f"undecodable: {error}")
            raise
        if message.event in RESERVED:  # library traffic has no meaning on a broker
            reserved = DecodeError(
                f"reserved event {message.event!r} on subject {received.subject!r}", frame=0
            )
            self._give_up(delivery, f"unsolicited: {reserved}")
            raise reserved
        return message

    def check_incoming(
        self, message: Message, schemas: SchemaRegistry | None = None
    ) -> list[SchemaFailure]:
        """The contract failures; an event with some is dead-lettered with them, terminated."""
        registry = self.schemas if self.schemas is not None else schemas
        if registry is None:
            return []
        failures: list[SchemaFailure] = registry.errors(message.event, message.payload)
        if failures:
            text = "; ".join(f"at {f.json_path}: {f.message}" for f in failures)
            self._give_up(_delivery(message), f"breaks its contract: {text}")
        return failures

    def control(self, message: Message) -> Control:
        """Library traffic means nothing on a broker (message() refuses it): given up."""
        self._give_up(_delivery(message), f"unsolicited reserved event {message.event!r}")
        return Control.UNSOLICITED

    def _give_up(self, delivery: Delivery, failure: str) -> None:
        raise NotImplementedError


class NatsSocket(_NatsCodec):
    """The blocking socket: its NATS connection lives in a background loop thread it owns."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        self._init_codec(options, dispatcher)
        self._thread = LoopThread(f"zeroevents-nats {self.link.where}")
        try:
            self._thread.call(self.link.open(), timeout=None)  # bounded by connect_timeout_ms
        except BaseException:
            self._thread.stop()
            raise
        # The publish window, taken in the pushing thread, given back by each PubAck.
        self._window = threading.BoundedSemaphore(options["max_pending"])
        self.link.released = self._window.release

    def push(self, event: str, payload: Sequence[Any] = (), reply_to: Any = None) -> Any:
        """Publish ``event``; True once queued, without waiting for its PubAck.

        Blocks while ``max_pending`` PubAcks are awaited (``ack_timeout_ms`` at most,
        then ``zeroevents.push.error``). A publish that fails later (no PubAck in
        time, no stream) fires ``zeroevents.push.error`` (socket, event, payload,
        None) on the next push or flush, in the pushing thread.
        """
        if self.link.failures:
            self._report()
        subject, body, headers = self._prepare(event, payload)
        if not self._window.acquire(timeout=self.options["ack_timeout_ms"] / 1000):
            return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)
        self.link.post(self.link.publish_posted, subject, body, headers, event, payload)
        return True

    def forward(self, message: Message) -> None:
        self.push(message.event, message.payload)

    def _report(self) -> None:
        failures = self.link.failures
        while failures:
            event, payload, _ = failures.popleft()
            self.dispatcher.until(PUSH_ERROR, self, event, payload, None)

    def flush(self, timeout_ms: int) -> bool:
        """Wait until every published event has its PubAck; False if some failed."""
        if self.closed:
            return True
        timeout = self.options["flush_timeout_ms"] if timeout_ms < 0 else timeout_ms
        acked: bool = self._thread.call(self.link.flush(timeout / 1000), timeout=None)
        self._report()
        return acked

    def pull(self) -> Any:
        """Receive one event (``receive_timeout_ms`` at most: else ``zeroevents.pull.error``),
        check its contract, ack it."""
        received = self._thread.call(self.link.next_ready(), timeout=None)
        if received is None:
            return self.dispatcher.until(PULL_ERROR, self)
        message = self.message(received)
        failures = self.check_incoming(message)
        if failures:
            return self.dispatcher.until(
                SCHEMA_ERROR, message.event, message.payload, failures, None
            )
        self.confirm(message)
        return message

    def confirm(self, message: Message) -> None:
        """Ack ``message``: every listener returned."""
        self.link.post(self.link.settle, _delivery(message), None, False)

    def settle(self, message: Message, error: BaseException | None) -> None:
        """After the fire: ack, or nak with backoff (dead letter after ``max_deliver``)."""
        failure = None if error is None else _described(error)
        self.link.post(self.link.settle, _delivery(message), failure, False)

    def refuse(self, message: Message, reason: str) -> None:
        self._give_up(_delivery(message), reason)

    def undecodable(self, received: Msg) -> None:
        """Nothing left to do: :meth:`message` dead-lettered it."""

    def _give_up(self, delivery: Delivery, failure: str) -> None:
        self.link.post(self.link.settle, delivery, failure, True)

    def consumer_info(self) -> Any:
        """The server's view of this socket's consumer (``num_ack_pending`` ...)."""
        return self._thread.call(self.link.consumer_info(), timeout=None)

    def close(self) -> int:
        """Settle what is posted, wait for the PubAcks (``flush_timeout_ms``), drain the
        connection; return how many published events got no PubAck."""
        if self.closed:
            return 0
        self.closed = True
        timeout = self.options["flush_timeout_ms"] / 1000
        try:
            self._thread.call(self.link.close(timeout), timeout=None)
        finally:
            self._thread.stop()
        failed = len(self.link.failures)
        self._report()
        return failed


class NatsAsyncSocket(_NatsCodec):
    """The asyncio socket: its connection lives in the running loop, made on first use."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        self._init_codec(options, dispatcher)
        self._opening: asyncio.Task[None] | None = None

    async def opened(self) -> None:
        """Connect (once; the first push or the service's first poll does it)."""
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_task(self.link.open())
        await asyncio.shield(self._opening)

    async def push(self, event: str, payload: Sequence[Any] = (), reply_to: Any = None) -> Any:
        """Publish ``event``; True once sent, without waiting for its PubAck (as
        :meth:`NatsSocket.push`, awaiting room in the ``max_pending`` window)."""
        if self._opening is None or not self._opening.done():
            await self.opened()
        if self.link.failures:
            await self._report()
        subject, body, headers = self._prepare(event, payload)
        failure = await self.link.publish(subject, body, headers, event, payload)
        if failure is not None:
            return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)
        return True

    async def forward(self, message: Message) -> None:
        await self.push(message.event, message.payload)

    async def _report(self) -> None:
        failures = self.link.failures
        while failures:
            event, payload, _ = failures.popleft()
            await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, None)

    async def flush(self, timeout_ms: int) -> bool:
        if self._opening is None or self.closed:
            return True
        await self.opened()
        timeout = self.options["flush_timeout_ms"] if timeout_ms < 0 else timeout_ms
        acked = await self.link.flush(timeout / 1000)
        await self._report()
        return acked

    async def pull(self) -> Any:
        await self.opened()
        received = await self.link.next_ready()
        if received is None:
            return await self.dispatcher.until_async(PULL_ERROR, self)
        message = self.message(received)
        failures = self.check_incoming(message)
        if failures:
            return await self.dispatcher.until_async(
                SCHEMA_ERROR, message.event, message.payload, failures, None
            )
        await self.confirm(message)
        return message

    async def confirm(self, message: Message) -> None:
        await self.link.settle(_delivery(message), None, False)

    async def settle(self, message: Message, error: BaseException | None) -> None:
        failure = None if error is None else _described(error)
        await self.link.settle(_delivery(message), failure, False)

    async def refuse(self, message: Message, reason: str) -> None:
        await self.link.settle(_delivery(message), reason, True)

    async def undecodable(self, received: Msg) -> None:
        """Nothing left to do: :meth:`message` dead-lettered it."""

    def _give_up(self, delivery: Delivery, failure: str) -> None:
        # message() and check_incoming() do not await: settle in the loop, in order.
        self.link.post(self.link.settle, delivery, failure, True)

    async def consumer_info(self) -> Any:
        await self.opened()
        return await self.link.consumer_info()

    async def aclose(self) -> int:
        if self.closed:
            return 0
        self.closed = True
        if self._opening is None:
            return 0
        try:
            await self.opened()
        except Exception:
            return 0  # never connected: nothing was sent
        await self.link.close(self.options["flush_timeout_ms"] / 1000)
        failed = len(self.link.failures)
        await self._report()
        return failed


class NatsPoller:
    """What a blocking service waits on: a pipe the sockets' loop threads write to
    when messages arrive, and that :meth:`wake` writes to."""

    def __init__(self, sockets: Sequence[NatsSocket]) -> None:
        self._sockets = list(sockets)
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.signal_fd: int | None = self._write  # a signal's byte wakes the poll
        self._woken = False
        for socket in self._sockets:
            socket.link.notify = self._arrived

    def _arrived(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe wakes the poll anyway
            os.write(self._write, b"\0")

    def poll(self, timeout_ms: int) -> list[Any]:
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while True:
            ready = [socket for socket in self._sockets if socket.link.ready]
            if ready or self._woken:
                self._woken = False
                return ready
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return []
            readable, _, _ = select.select([self._read], [], [], left)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._read, 512):
                        pass

    def wake(self) -> None:
        self._woken = True
        self._arrived()

    def close(self) -> None:
        for socket in self._sockets:
            socket.link.notify = None
        os.close(self._read)
        os.close(self._write)


class NatsAsyncPoller:
    """What an asyncio service waits on: an event the sockets set when messages arrive."""

    def __init__(self, sockets: Sequence[NatsAsyncSocket]) -> None:
        self._sockets = list(sockets)
        self._arrived = asyncio.Event()
        self._woken = False
        for socket in self._sockets:
            socket.link.notify = self._arrived.set

    async def poll(self, timeout_ms: int) -> list[Any]:
        for socket in self._sockets:
            await socket.opened()
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        while True:
            self._arrived.clear()  # before looking: an arrival after it sets it again
            ready = [socket for socket in self._sockets if socket.link.ready]
            if ready or self._woken:
                self._woken = False
                return ready
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def wake(self) -> None:
        self._woken = True
        self._arrived.set()

    def close(self) -> None:
        for socket in self._sockets:
            socket.link.notify = None
