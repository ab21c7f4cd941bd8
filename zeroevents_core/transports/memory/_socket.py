"""The memory event sockets: what the blocking and the asyncio ones share, written
once as steps that never block, and each flavour's way of running them."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...delivery import InFlight
from ...envelope import MAGIC
from ...errors import ConfigurationError, DecodeError, SendError, TransportClosed
from ...security import REJECTED
from .. import Control, Message
from ..codec import (
    ACK,
    CONFIRMED,
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    EventCodec,
    is_confirmation,
)
from ..reliable import (
    SEND,
    TAKE,
    WAIT,
    Acknowledging,
    AsyncRetrying,
    FlushReport,
    Incoming,
    Outbound,
    Outgoing,
    Retrying,
    delivering,
    limits_of,
    read_v2,
    settling,
    v2_message,
)
from ..retry_timers import Timer
from ._links import LINKS, SCHEME, Frames, Queue, Wait, deadline_after, seconds_left

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher

log = logging.getLogger("zeroevents_core.transports")

# Library messages a pull() passes over before it reports that no event came.
RESERVED_SKIPPED = 64


class _MemoryLink(Acknowledging, EventCodec):
    """What the blocking and the asyncio memory sockets share: set-up, routing, and
    each operation as a *step* that never blocks: it finishes (a result) or says
    what to wait for (a :class:`Wait`). Each flavour runs the steps its own way."""

    can_reply = True

    def _retry_timer(self) -> Timer:
        """The timer of this socket's retries between pushes (each flavour its own)."""
        raise NotImplementedError

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        self._init_codec(
            options["serializer"], options["confirmed"], options["accept"], options["schemas"]
        )
        self.max_name_bytes = options["max_name_bytes"]
        self.max_frames = options["max_frames"]
        self.dispatcher = dispatcher
        self.send_timeout_ms: int = options["send_timeout_ms"]
        self.receive_timeout_ms: int = options["receive_timeout_ms"]
        self._binds: list[str] = list(options["bind"])
        self._connects: list[str] = list(options["connect"])
        self.where = ", ".join(SCHEME + name for name in [*self._binds, *self._connects])
        # What this socket receives (its pollers watch it; replies to it go there).
        self.inbox = Queue(options["max_queued"], self.where)
        self.limits = limits_of(options)
        self.incoming = Incoming(options)
        self.outgoing = (
            Outgoing(options, self.stats, self.limits) if options["wire"] == "v2" else None
        )
        if self.outgoing is not None and self.outgoing.window is not None:
            self.outgoing.timer = self._retry_timer()  # retries between pushes
        self._sent: dict[Queue, int] = {}  # each receiver's count once it has our last
        self._turn = 0
        self._routes: list[Queue] = []
        self._routes_version = -1  # of the table when _routes was made
        self.closed = False
        with LINKS.lock:
            for name in self._binds:
                if name in LINKS.bound:
                    for done in self._binds[: self._binds.index(name)]:
                        del LINKS.bound[done]
                    self.incoming.close()  # its dedup store, for a socket that can open it
                    raise ConfigurationError(
                        f"cannot bind {SCHEME}{name}: already bound in this process "
                        f"(by the socket on {LINKS.bound[name].owner})"
                    )
                LINKS.bound[name] = self.inbox
            for name in self._connects:
                LINKS.connected.setdefault(name, []).append(self.inbox)
            LINKS.changed()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}>"

    # Steps ---------------------------------------------------------------------

    def _route(self) -> Queue | Wait:
        """The next receiver of a push without ``reply_to``: round-robin over the bound
        names this socket connects to, then over the sockets connected to its names
        (the list made again only when the table has changed)."""
        if self._routes_version != LINKS.version:
            with LINKS.lock:
                receivers = [LINKS.bound[n] for n in self._connects if n in LINKS.bound]
                for name in self._binds:
                    receivers.extend(LINKS.connected.get(name, ()))
                self._routes, self._routes_version = receivers, LINKS.version
        routes = self._routes
        if not routes:
            return Wait(LINKS, self._routes_version)
        if len(routes) == 1:
            return routes[0]
        self._turn += 1
        return routes[self._turn % len(routes)]

    def _put(self, frames: list[bytes], to: Queue | None, flushed: bool = True) -> bool | Wait:
        """Queue ``frames`` at ``to`` (else at the next receiver); False: ``to`` is closed.
        ``flushed``: whether :meth:`flush` waits for it (not for a confirmation)."""
        while True:  # once more only when the routed receiver closed meanwhile
            receiver = to if to is not None else self._route()
            if isinstance(receiver, Wait):
                return receiver
            with receiver.lock:
                if not receiver.closed:
                    if len(receiver.items) >= receiver.capacity:
                        return Wait(receiver, receiver.version)
                    receiver.items.append((frames, self.inbox))
                    receiver.added += 1
                    if flushed:
                        self._sent[receiver] = receiver.added
                    receiver.changed()
                    return True
            if to is not None:
                return False

    def recv_ready(self) -> Frames | None:
        """One waiting message, or None: never blocks."""
        received = self._take()
        return None if isinstance(received, Wait) else received

    def _take(self) -> Frames | Wait:
        queue = self.inbox
        with queue.lock:
            if not queue.items:
                if queue.closed:
                    raise TransportClosed(f"the memory socket on {self.where} is closed")
                return Wait(queue, queue.version)  # read with the look: no change lost
            frames, sender = queue.items.popleft()
            queue.taken += 1
            queue.changed()
        received = Frames(frames)  # no __init__ of its own: the list's, in C
        received.reply_to = sender
        return received

    def _confirmation(self, event: str) -> Message | Wait:
        """The confirmation of ``event`` once it is queued here; what comes before it
        (a late confirmation of an earlier push) is dropped, as on ZeroMQ."""
        for _ in range(self.inbox.capacity + 1):  # at most what the queue holds
            received = self._take()
            if isinstance(received, Wait):
                return received
            try:
                reply = self.message(received)
            except DecodeError as error:
                log.warning("dropped an undecodable answer on %s: %s", self.where, error)
                continue
            if is_confirmation(reply, event):
                return reply
        return Wait(self.inbox, -1)  # a version never seen: look again at once

    def _flushed(self) -> bool | Wait:
        """True once every receiver has taken what this socket sent to it; False
        when one closed first, dropping some."""
        dropped = False
        for receiver, count in list(self._sent.items()):
            with receiver.lock:
                if receiver.taken < count and not receiver.closed:
                    return Wait(receiver, receiver.version)
                dropped |= receiver.taken < count
            del self._sent[receiver]
        return not dropped

    # What both flavours answer with --------------------------------------------

    def message(self, received: Sequence[bytes]) -> Message:
        """Decode; a DecodeError names the frame index as sent (0 is the name on v1;
        wire v2, told by its empty frame 0 and magic, is read beside it)."""
        reply_to = getattr(received, "reply_to", None)
        if received and not received[0] and len(received) > 1 and received[1][:3] == MAGIC:
            return v2_message(read_v2(self, received, self.limits, 0), reply_to)
        event, payload = self.decode(received)
        return Message(event, payload, reply_to)

    def control(self, message: Message) -> Control:
        # No library traffic of its own but acknowledgements (its flush watches the
        # receivers' counters): another reserved name comes only from raw frames or a
        # late confirmation.
        if message.event == ACK and self.outgoing is not None:
            self.outgoing.acknowledge(message.payload[0])
            return Control.HANDLED
        return Control.UNSOLICITED

    # At-least-once: what both flavours share.

    def _send_ack(self, frames: list[bytes], reply_to: Any) -> None:
        if isinstance(reply_to, Queue):
            self._put(frames, reply_to, False)  # never waits: one lost is sent again

    def _heard(self, received: Frames) -> None:
        try:
            message = self.message(received)
        except DecodeError:
            return
        if message.event == ACK and self.outgoing is not None:
            self.outgoing.acknowledge(message.payload[0])

    def _take_reply(self) -> Frames | None:
        received = self._take()
        return None if isinstance(received, Wait) else received

    def _outbound(
        self, event: str, payload: Sequence[Any], reply_to: Any, headers: Any
    ) -> tuple[int, Outbound]:
        assert self.outgoing is not None
        if self.closed:
            raise TransportClosed(f"the memory socket on {self.where} is closed")
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        serializer = self._serializer
        number, frames = self.outgoing.encode(
            event, serializer.serialize(payload), serializer.name, headers
        )
        return number, Outbound(event, payload, reply_to, frames)

    def _abandoned(self) -> list[InFlight[Outbound]]:
        return self.outgoing.abandon() if self.outgoing is not None else []

    def pending_report(self) -> FlushReport:
        return self.outgoing.report() if self.outgoing is not None else FlushReport()

    def _frames(self, event: str, payload: Sequence[Any], reply_to: Any) -> list[bytes]:
        if reply_to is not None and not isinstance(reply_to, Queue):
            raise ConfigurationError(
                f"reply_to of {event!r}: expected the reply_to of a message received "
                f"on a memory socket, got {reply_to!r}"
            )
        if self.closed:
            raise TransportClosed(f"the memory socket on {self.where} is closed")
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        return self.encode(event, payload)

    def _answer(self, message: Message) -> list[Any] | None:
        """The payload of the confirmation of ``message``, when one is due."""
        return [message.event] if self.needs_confirmation(message.event) else None

    @staticmethod
    def _undecodable_answer(received: Frames) -> list[Any]:
        # As the original: it confirms what it took from the wire, by the name as received.
        return [bytes(received[0]).decode("utf-8", "replace") if received else ""]

    def undelivered(self) -> int:
        """Events sent by this socket that no receiver has taken: dropped by one that
        closed, or still queued (the receiver queues are scanned: bounded)."""
        queued = 0
        for receiver in list(self._sent):
            with receiver.lock:
                queued += sum(1 for _, sender in receiver.items if sender is self.inbox)
        return self.inbox.lost + queued

    def _close(self) -> None:
        """Free the names, drop what was not taken (each sender is told), end waits."""
        queue = self.inbox
        with LINKS.lock:
            for name in self._binds:
                if LINKS.bound.get(name) is queue:
                    del LINKS.bound[name]
            for name in self._connects:
                with contextlib.suppress(ValueError):
                    LINKS.connected[name].remove(queue)
            LINKS.changed()
        with queue.lock:
            self.closed = queue.closed = True
            dropped, queue.items = queue.items, deque()
            queue.changed()
        if self.incoming is not None:
            self.incoming.close()  # its dedup store
        if dropped:
            log.warning(
                "closing the memory socket on %s: dropped %d received messages not taken",
                self.where,
                len(dropped),
            )
        for _, sender in dropped:
            if sender is not None:
                with sender.lock:
                    sender.lost += 1


class MemoryEventSocket(Retrying, _MemoryLink):
    """A blocking memory socket (see the module's docstring)."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        super().__init__(options, dispatcher)
        self._sending = threading.RLock()  # a push's listener of push.error may push

    @staticmethod
    def _run(step: Callable[[], Any], timeout_ms: int) -> Any:
        """``step()`` again after each change it waits for; None at the deadline."""
        outcome = step()
        deadline = None if not isinstance(outcome, Wait) else deadline_after(timeout_ms)
        while isinstance(outcome, Wait):  # bounded by the deadline
            if seconds_left(deadline) == 0:
                return None
            outcome.changes.wait(outcome.version, deadline)
            outcome = step()
        return outcome

    def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one event: True once queued at a receiver; in confirmed mode the
        confirming Message. After ``send_timeout_ms`` without a receiver or without
        room (or ``receive_timeout_ms`` without the confirmation) fires
        ``zeroevents.push.error`` (socket, event, payload, reply_to) and returns its
        listeners' first answer."""
        if self.outgoing is not None and event not in RESERVED:
            return self._push_v2(event, payload, reply_to, headers)
        with self._sending:  # encoding too: a serializer plugin need not be thread-safe
            frames = self._frames(event, payload, reply_to)
            answer = event == CONFIRMED
            if self._run(lambda: self._put(frames, reply_to, not answer), self.send_timeout_ms):
                self.stats.sent += 1
                if not self.confirmed or answer:
                    return True
                reply = self._run(lambda: self._confirmation(event), self.receive_timeout_ms)
                if reply is not None:
                    return reply
        self.stats.push_errors += 1
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)

    def _push_v2(self, event: str, payload: Sequence[Any], reply_to: Any, headers: Any) -> Any:
        assert self.outgoing is not None
        with self._sending:
            number, outbound = self._outbound(event, payload, reply_to, headers)
            step = delivering(
                self.outgoing, self._heard, outbound, number, False, self.send_timeout_ms
            )
            sent, given = self._deliver(step)  # the memory link is fast: no straight path
        self._give_up(given)
        if sent:
            return True
        self.stats.push_errors += 1
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)

    def _deliver(self, step: Generator[tuple[str, Any], Any, Any]) -> Any:
        """Run a delivery step (see :mod:`..reliable`), waiting on the queues."""
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
                inbox = self.inbox
                if not inbox.items:
                    inbox.wait(inbox.version, deadline_after(arg))
            else:
                frames, to = arg
                put = functools.partial(self._put, frames, to)
                outcome = bool(self._run(put, self.send_timeout_ms if kind == SEND else 0))

    def _give_up(self, given: list[InFlight[Outbound]]) -> None:
        for entry in given:
            self.stats.push_errors += 1
            item = entry.item
            self.dispatcher.until(PUSH_ERROR, self, item.event, item.payload, item.reply_to)

    def settle(self, timeout_ms: int) -> FlushReport:
        """At-least-once: read acknowledgements and retransmit until everything sent is
        acknowledged, ``timeout_ms`` at most; what is still pending."""
        if self.outgoing is None:
            return FlushReport()
        with self._sending:
            given = self._deliver(settling(self.outgoing, self._heard, timeout_ms))
            report = self.pending_report()
        self._give_up(given)
        return report

    def abandon(self) -> int:
        with self._sending:
            given = self._abandoned()
        self._give_up(given)
        return len(given)

    def send_frames(self, frames: Sequence[bytes], reply_to: Any = None) -> bool:
        """Queue raw ``frames`` at the next receiver (or ``reply_to``), unchecked:
        how a test plays a peer that sends garbage. False after ``send_timeout_ms``."""
        with self._sending:
            return bool(self._run(lambda: self._put(list(frames), reply_to), self.send_timeout_ms))

    def pull(self) -> Any:
        """Receive one event (confirming it, checking contracts), as on ZeroMQ:
        ``zeroevents.pull.error`` (socket) after ``receive_timeout_ms`` without one,
        ``zeroevents.schema.error`` for one that breaks its contract; an undecodable
        message raises DecodeError."""
        for _ in range(RESERVED_SKIPPED):
            received = self._run(self._take, self.receive_timeout_ms)
            if received is None:
                break
            try:
                message = self.message(received)
            except DecodeError:
                self.undecodable(received)
                raise
            if message.event not in RESERVED and not self.pulled_duplicate(message):
                self.confirm(message)
                failures = self.check_incoming(message)
                if failures:
                    event, payload, reply_to = message.event, message.payload, message.reply_to
                    return self.dispatcher.until(SCHEMA_ERROR, event, payload, failures, reply_to)
                return message
            self.control(message)
        return self.dispatcher.until(PULL_ERROR, self)

    def confirm(self, message: Message) -> None:
        answer = self._answer(message)
        if answer is not None:
            self.push(CONFIRMED, answer, message.reply_to)

    def refuse(self, message: Message, reason: str) -> None:
        if self.confirmed:
            self.push(CONFIRMED, [message.event, REJECTED, reason], message.reply_to)

    def undecodable(self, received: Frames) -> None:
        if self.confirmed and received.reply_to is not None:
            self.push(CONFIRMED, self._undecodable_answer(received), received.reply_to)

    def forward(self, message: Message) -> None:
        """Send ``message`` on (name and payload) to the next receiver: a dead letter."""
        with self._sending:
            frames = self.encode(message.event, message.payload)
            if not self._run(lambda: self._put(frames, None), self.send_timeout_ms):
                raise SendError(
                    f"cannot forward {message.event!r} on {self.where}: no receiver "
                    f"took it within {self.send_timeout_ms} ms (option 'send_timeout_ms')"
                )

    def flush(self, timeout_ms: int) -> bool:
        """Wait until the receivers have taken every event sent so far, ``timeout_ms``
        at most (-1: no limit); whether they did."""
        with self._sending:
            return bool(self._run(self._flushed, timeout_ms))

    def close(self, flush_timeout_ms: int | None = None) -> int:
        """Close, after waiting ``flush_timeout_ms`` for the receivers (None: no
        flush); return how many events sent were not taken (logged). At-least-once:
        waits that long for the acknowledgements, and reports each event still
        unacknowledged by ``zeroevents.push.error``."""
        if self.outgoing is not None and self.outgoing.window is not None:
            self.outgoing.stop_timer()  # the settling below retransmits now
            self.settle(flush_timeout_ms or 0)
            count = self.abandon()
            with self._sending:
                self._close()
            return _report(self, count, flush_timeout_ms)
        with self._sending:
            if flush_timeout_ms is not None:
                self.flush(flush_timeout_ms)
            undelivered = self.undelivered()
            self._close()
        return _report(self, undelivered, flush_timeout_ms)


class MemoryAsyncEventSocket(AsyncRetrying, _MemoryLink):
    """An asyncio memory socket: the same steps, waited for without blocking the loop."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        import asyncio

        super().__init__(options, dispatcher)
        self._confirming = asyncio.Lock()

    @staticmethod
    async def _run(step: Callable[[], Any], timeout_ms: int) -> Any:
        """``step()`` again after each change it waits for; None at the deadline."""
        outcome = step()
        deadline = None if not isinstance(outcome, Wait) else deadline_after(timeout_ms)
        while isinstance(outcome, Wait):  # bounded by the deadline
            if seconds_left(deadline) == 0:
                return None
            await outcome.changes.wait_async(outcome.version, deadline)
            outcome = step()
        return outcome

    async def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """:meth:`MemoryEventSocket.push`, awaited; confirmed pushes on one socket are
        serialised, so that each waits for its own confirmation."""
        if self.outgoing is not None and event not in RESERVED:
            return await self._push_v2(event, payload, reply_to, headers)
        frames = self._frames(event, payload, reply_to)
        answer = event == CONFIRMED
        put = functools.partial(self._put, frames, reply_to, not answer)
        if not self.confirmed or answer:
            if await self._run(put, self.send_timeout_ms):
                self.stats.sent += 1
                return True
        else:
            async with self._confirming:
                if await self._run(put, self.send_timeout_ms):
                    self.stats.sent += 1
                    confirmation = functools.partial(self._confirmation, event)
                    reply = await self._run(confirmation, self.receive_timeout_ms)
                    if reply is not None:
                        return reply
        self.stats.push_errors += 1
        return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)

    async def _push_v2(
        self, event: str, payload: Sequence[Any], reply_to: Any, headers: Any
    ) -> Any:
        assert self.outgoing is not None
        number, outbound = self._outbound(event, payload, reply_to, headers)
        step = delivering(self.outgoing, self._heard, outbound, number, False, self.send_timeout_ms)
        sent, given = await self._deliver(step)
        await self._give_up(given)
        if sent:
            return True
        self.stats.push_errors += 1
        return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)

    async def _deliver(self, step: Generator[tuple[str, Any], Any, Any]) -> Any:
        """Run a delivery step (see :mod:`..reliable`), awaiting the queues."""
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
                inbox = self.inbox
                if not inbox.items:
                    await inbox.wait_async(inbox.version, deadline_after(arg))
            else:
                frames, to = arg
                put = functools.partial(self._put, frames, to)
                outcome = bool(await self._run(put, self.send_timeout_ms if kind == SEND else 0))

    async def _give_up(self, given: list[InFlight[Outbound]]) -> None:
        for entry in given:
            self.stats.push_errors += 1
            item = entry.item
            await self.dispatcher.until_async(
                PUSH_ERROR, self, item.event, item.payload, item.reply_to
            )

    async def settle(self, timeout_ms: int) -> FlushReport:
        """:meth:`MemoryEventSocket.settle`, awaited."""
        if self.outgoing is None:
            return FlushReport()
        given = await self._deliver(settling(self.outgoing, self._heard, timeout_ms))
        await self._give_up(given)
        return self.pending_report()

    async def abandon(self) -> int:
        given = self._abandoned()
        await self._give_up(given)
        return len(given)

    async def send_frames(self, frames: Sequence[bytes], reply_to: Any = None) -> bool:
        """:meth:`MemoryEventSocket.send_frames`, awaited."""
        return bool(
            await self._run(lambda: self._put(list(frames), reply_to), self.send_timeout_ms)
        )

    async def pull(self) -> Any:
        """:meth:`MemoryEventSocket.pull`, awaited."""
        for _ in range(RESERVED_SKIPPED):
            received = await self._run(self._take, self.receive_timeout_ms)
            if received is None:
                break
            try:
                message = self.message(received)
            except DecodeError:
                await self.undecodable(received)
                raise
            if message.event not in RESERVED and not self.pulled_duplicate(message):
                await self.confirm(message)
                failures = self.check_incoming(message)
                if failures:
                    event, payload, reply_to = message.event, message.payload, message.reply_to
                    return await self.dispatcher.until_async(
                        SCHEMA_ERROR, event, payload, failures, reply_to
                    )
                return message
            self.control(message)
        return await self.dispatcher.until_async(PULL_ERROR, self)

    async def confirm(self, message: Message) -> None:
        answer = self._answer(message)
        if answer is not None:
            await self.push(CONFIRMED, answer, message.reply_to)

    async def refuse(self, message: Message, reason: str) -> None:
        if self.confirmed:
            await self.push(CONFIRMED, [message.event, REJECTED, reason], message.reply_to)

    async def undecodable(self, received: Frames) -> None:
        if self.confirmed and received.reply_to is not None:
            await self.push(CONFIRMED, self._undecodable_answer(received), received.reply_to)

    async def forward(self, message: Message) -> None:
        frames = self.encode(message.event, message.payload)
        if not await self._run(lambda: self._put(frames, None), self.send_timeout_ms):
            raise SendError(
                f"cannot forward {message.event!r} on {self.where}: no receiver "
                f"took it within {self.send_timeout_ms} ms (option 'send_timeout_ms')"
            )

    async def flush(self, timeout_ms: int) -> bool:
        return bool(await self._run(self._flushed, timeout_ms))

    async def close(self, flush_timeout_ms: int | None = None) -> int:
        """:meth:`MemoryEventSocket.close`, awaited."""
        if self.outgoing is not None and self.outgoing.window is not None:
            self.outgoing.stop_timer()  # the settling below retransmits now
            await self.settle(flush_timeout_ms or 0)
            count = await self.abandon()
            self._close()
            return _report(self, count, flush_timeout_ms)
        if flush_timeout_ms is not None:
            await self.flush(flush_timeout_ms)
        undelivered = self.undelivered()
        self._close()
        return _report(self, undelivered, flush_timeout_ms)


def _report(socket: _MemoryLink, undelivered: int, flush_timeout_ms: int | None) -> int:
    if undelivered:
        waited = "no flush" if flush_timeout_ms is None else f"flushed for {flush_timeout_ms} ms"
        log.warning(
            "closing the memory socket on %s (%s): %d event%s sent may not have been "
            "delivered: %d dropped by a receiver that closed, the others not yet taken",
            socket.where,
            waited,
            undelivered,
            "s" * (undelivered != 1),
            socket.inbox.lost,
        )
    return undelivered
