"""The built-in ``memory`` transport: events between threads and tasks of one process.

Written against the transport contract only (:mod:`zeroevents_core.transports`),
it is what tests and the pytest plugin use instead of sockets, and the proof that
the core needs nothing of ZeroMQ. Endpoints are names, ``memory://orders``::

    service.listen(EventListener({"transport": "memory", "bind": "memory://orders"}))
    events.listen("orders.*", EventListener({"transport": "memory", "connect": "memory://orders"}))

Events go through the real codec (:class:`~.codec.EventCodec`): they are encoded to
frames and decoded again, so serializer errors, the limits ``max_name_bytes`` and
``max_frames``, contracts and accept lists behave as on ZeroMQ.

Behaviour, as a ZeroMQ DEALER pair would have it:

- ``bind``: a name, or a list of names, that this socket receives on. A name is
  bound by one socket at a time in the process: binding it twice is a
  :class:`~zeroevents_core.ConfigurationError` naming it. Closing the socket frees it.
- ``connect``: names to send to. Connecting to a name nobody binds is not an error:
  a push waits for the bind (as ZeroMQ waits for the peer), ``send_timeout_ms`` at
  most, then fires ``zeroevents.push.error``. Many sockets may connect to one
  name (fan-in); pushes on a socket connected to several names go round-robin.
- A socket that binds pushes round-robin to the sockets connected to its names;
  a push with ``reply_to`` (a received ``Message.reply_to``) goes to that sender:
  that is how confirmations find their way back, so confirmed mode works.
- Every socket has one bounded queue of received messages (``max_queued``). A push
  that finds it full waits ``send_timeout_ms`` for room, then fires
  ``zeroevents.push.error``: a queue never grows without bound.
- ``flush(timeout_ms)`` waits until the receivers have taken every event this
  socket sent. Closing a socket that sent something flushes first
  (``flush_on_close``, ``flush_timeout_ms``), then logs and returns how many of
  its events were not taken (they stay queued for a receiver still running; a
  receiver that closes drops what it had not taken and tells each sender).
- A received message (what ``recv_ready`` returns, what ``zeroevents.pull.error``
  listeners get) is a list of frames with a ``reply_to`` attribute;
  :meth:`MemoryEventSocket.send_frames` puts raw frames on the link, unchecked,
  for tests that need a peer sending garbage.
- Pollers wake on signals through ``signal_fd``: the write end of the pipe their
  ``poll`` waits on, for ``signal.set_wakeup_fd``; ``wake()`` writes to it too, from
  any thread or from a signal handler.

Thread- and asyncio-safe: a socket may push from several threads at once (one lock
per socket, held to the confirmation in confirmed mode); the asyncio socket never
blocks the event loop (its waits are futures woken from whichever thread changed
the queue). Receiving stays on one thread, or one task.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..errors import ConfigurationError, DecodeError, SendError, TransportClosed
from ..hookspecs import hookimpl
from ..security import REJECTED
from . import Control, Message, Transport
from .codec import (
    CONFIRMED,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_NAME_BYTES,
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    EventCodec,
    is_confirmation,
)

if TYPE_CHECKING:
    import asyncio  # at run time only where the asyncio side runs: loaded by its users

    from ..dispatcher import Dispatcher

log = logging.getLogger("zeroevents_core.transports")

SCHEME = "memory://"
_ENDPOINT = re.compile(r"^memory://(?P<name>\S+)$")
# Library messages a pull() passes over before it reports that no event came.
RESERVED_SKIPPED = 64


def _deadline(timeout_ms: int) -> float | None:
    return None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000


def _left(deadline: float | None) -> float | None:
    """Seconds to ``deadline`` (0 once passed); None: no limit."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Changes:
    """A lock, and a way to wait for a change of what it guards from a thread or
    from an event loop. ``version`` counts the changes: a waiter says which
    version it saw, so that a change between its look and its wait is not lost."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._condition = threading.Condition(self.lock)
        self.version = 0
        self.watchers: list[Callable[[], None]] = []  # pollers and asyncio waiters

    def changed(self) -> None:
        """Wake every waiter; called with ``lock`` held."""
        self.version += 1
        self._condition.notify_all()
        for watcher in self.watchers:
            watcher()

    def wait(self, seen: int, deadline: float | None) -> None:
        """Block until a change after version ``seen``, or the deadline."""
        with self.lock:
            while self.version == seen:
                left = _left(deadline)
                if left == 0:
                    return
                self._condition.wait(left)

    async def wait_async(self, seen: int, deadline: float | None) -> None:
        """:meth:`wait` for an event loop: a future that a change resolves."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def watcher() -> None:
            if not fired:  # once is enough
                fired.append(True)
                loop.call_soon_threadsafe(_resolve, future)

        fired: list[bool] = []

        with self.lock:
            if self.version != seen:
                return
            self.watchers.append(watcher)
        try:
            await asyncio.wait_for(future, _left(deadline))
        except TimeoutError:
            pass
        finally:
            with self.lock, contextlib.suppress(ValueError):
                self.watchers.remove(watcher)


class _Wait(NamedTuple):
    """What a step that cannot finish yet waits for: a change of ``changes`` after
    ``version``."""

    changes: _Changes
    version: int


class Frames(list[bytes]):
    """One received message: its frames, and the queue of the socket that sent it
    (``reply_to`` of its :class:`Message`; None for raw frames sent without one)."""

    __slots__ = ("reply_to",)

    def __init__(self, frames: Sequence[bytes], reply_to: _Queue | None) -> None:
        super().__init__(frames)
        self.reply_to = reply_to


class _Queue(_Changes):
    """The bounded queue of messages a socket has received, and its counters."""

    def __init__(self, capacity: int, owner: str) -> None:
        super().__init__()
        self.capacity = capacity
        self.owner = owner  # for messages: where the socket binds or connects
        self.items: deque[tuple[list[bytes], _Queue | None]] = deque()
        self.added = 0
        self.taken = 0
        self.lost = 0  # events of this socket that a closing receiver dropped
        self.closed = False

    def __repr__(self) -> str:
        return f"<memory queue of {self.owner}>"


class _Links(_Changes):
    """Who binds each name, and who connects to it: one table for the process."""

    def __init__(self) -> None:
        super().__init__()
        self.bound: dict[str, _Queue] = {}
        self.connected: dict[str, list[_Queue]] = {}


_links = _Links()


def _names_of(key: str, value: Any) -> list[str]:
    """The names of one ``memory://NAME`` endpoint or a list of them."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigurationError(f"option {key!r}: expected an endpoint or a list, got {value!r}")
    names = []
    for endpoint in items:
        match = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
        if match is None:
            raise ConfigurationError(
                f"option {key!r}: malformed endpoint {endpoint!r}; expected memory://NAME"
            )
        names.append(match["name"])
    return names


class _MemoryLink(EventCodec):
    """What the blocking and the asyncio memory sockets share: set-up, routing, and
    each operation as a *step* that never blocks: it finishes (a result) or says
    what to wait for (a :class:`_Wait`). Each flavour runs the steps its own way."""

    can_reply = True

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
        self._queue = _Queue(options["max_queued"], self.where)
        self._sent: dict[_Queue, int] = {}  # each receiver's count once it has our last
        self._turn = 0
        self.closed = False
        with _links.lock:
            for name in self._binds:
                if name in _links.bound:
                    for done in self._binds[: self._binds.index(name)]:
                        del _links.bound[done]
                    raise ConfigurationError(
                        f"cannot bind {SCHEME}{name}: already bound in this process "
                        f"(by the socket on {_links.bound[name].owner})"
                    )
                _links.bound[name] = self._queue
            for name in self._connects:
                _links.connected.setdefault(name, []).append(self._queue)
            _links.changed()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where}>"

    # Steps ---------------------------------------------------------------------

    def _route(self) -> _Queue | _Wait:
        """The next receiver of a push without ``reply_to``: round-robin over the bound
        names this socket connects to, then over the sockets connected to its names."""
        with _links.lock:
            receivers = [_links.bound[n] for n in self._connects if n in _links.bound]
            for name in self._binds:
                receivers.extend(_links.connected.get(name, ()))
            if not receivers:
                return _Wait(_links, _links.version)
            self._turn += 1
            return receivers[self._turn % len(receivers)]

    def _put(self, frames: list[bytes], to: _Queue | None) -> bool | _Wait:
        """Queue ``frames`` at ``to`` (else at the next receiver); False: ``to`` is closed."""
        while True:  # once more only when the routed receiver closed meanwhile
            receiver = to if to is not None else self._route()
            if isinstance(receiver, _Wait):
                return receiver
            with receiver.lock:
                if not receiver.closed:
                    if len(receiver.items) >= receiver.capacity:
                        return _Wait(receiver, receiver.version)
                    receiver.items.append((frames, self._queue))
                    receiver.added += 1
                    self._sent[receiver] = receiver.added
                    receiver.changed()
                    return True
            if to is not None:
                return False

    def recv_ready(self) -> Frames | None:
        """One waiting message, or None: never blocks."""
        received = self._take()
        return None if isinstance(received, _Wait) else received

    def _take(self) -> Frames | _Wait:
        queue = self._queue
        with queue.lock:
            if not queue.items:
                if queue.closed:
                    raise TransportClosed(f"the memory socket on {self.where} is closed")
                return _Wait(queue, queue.version)  # read with the look: no change lost
            frames, sender = queue.items.popleft()
            queue.taken += 1
            queue.changed()
        return Frames(frames, sender)

    def _confirmation(self, event: str) -> Message | _Wait:
        """The confirmation of ``event`` once it is queued here; what comes before it
        (a late confirmation of an earlier push) is dropped, as on ZeroMQ."""
        for _ in range(self._queue.capacity + 1):  # at most what the queue holds
            received = self._take()
            if isinstance(received, _Wait):
                return received
            try:
                reply = self.message(received)
            except DecodeError as error:
                log.warning("dropped an undecodable answer on %s: %s", self.where, error)
                continue
            if is_confirmation(reply, event):
                return reply
        return _Wait(self._queue, -1)  # a version never seen: look again at once

    def _flushed(self) -> bool | _Wait:
        """True once every receiver has taken what this socket sent to it; False
        when one closed first, dropping some."""
        dropped = False
        for receiver, count in list(self._sent.items()):
            with receiver.lock:
                if receiver.taken < count and not receiver.closed:
                    return _Wait(receiver, receiver.version)
                dropped |= receiver.taken < count
            del self._sent[receiver]
        return not dropped

    # What both flavours answer with --------------------------------------------

    def message(self, received: Sequence[bytes]) -> Message:
        """Decode; a DecodeError names the frame index as sent (0 is the name)."""
        event, payload = self.decode(received)
        return Message(event, payload, getattr(received, "reply_to", None))

    def control(self, message: Message) -> Control:
        # No library traffic of its own (its flush watches the receivers' counters):
        # a reserved name comes only from raw frames or a late confirmation.
        return Control.UNSOLICITED

    def _frames(self, event: str, payload: Sequence[Any], reply_to: Any) -> list[bytes]:
        if reply_to is not None and not isinstance(reply_to, _Queue):
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
                queued += sum(1 for _, sender in receiver.items if sender is self._queue)
        return self._queue.lost + queued

    def _close(self) -> None:
        """Free the names, drop what was not taken (each sender is told), end waits."""
        queue = self._queue
        with _links.lock:
            for name in self._binds:
                if _links.bound.get(name) is queue:
                    del _links.bound[name]
            for name in self._connects:
                with contextlib.suppress(ValueError):
                    _links.connected[name].remove(queue)
            _links.changed()
        with queue.lock:
            self.closed = queue.closed = True
            dropped, queue.items = queue.items, deque()
            queue.changed()
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


class MemoryEventSocket(_MemoryLink):
    """A blocking memory socket (see the module's docstring)."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        super().__init__(options, dispatcher)
        self._sending = threading.RLock()  # a push's listener of push.error may push

    @staticmethod
    def _run(step: Callable[[], Any], timeout_ms: int) -> Any:
        """``step()`` again after each change it waits for; None at the deadline."""
        outcome = step()
        deadline = None if not isinstance(outcome, _Wait) else _deadline(timeout_ms)
        while isinstance(outcome, _Wait):  # bounded by the deadline
            if _left(deadline) == 0:
                return None
            outcome.changes.wait(outcome.version, deadline)
            outcome = step()
        return outcome

    def push(self, event: str, payload: Sequence[Any] = (), reply_to: Any = None) -> Any:
        """Send one event: True once queued at a receiver; in confirmed mode the
        confirming Message. After ``send_timeout_ms`` without a receiver or without
        room (or ``receive_timeout_ms`` without the confirmation) fires
        ``zeroevents.push.error`` (socket, event, payload, reply_to) and returns its
        listeners' first answer."""
        with self._sending:  # encoding too: a serializer plugin need not be thread-safe
            frames = self._frames(event, payload, reply_to)
            if self._run(lambda: self._put(frames, reply_to), self.send_timeout_ms):
                if not self.confirmed or event == CONFIRMED:
                    return True
                reply = self._run(lambda: self._confirmation(event), self.receive_timeout_ms)
                if reply is not None:
                    return reply
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)

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
            if message.event not in RESERVED:
                self.confirm(message)
                failures = self.check_incoming(message)
                if failures:
                    event, payload, reply_to = message
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
        flush); return how many events sent were not taken (logged)."""
        with self._sending:
            if flush_timeout_ms is not None:
                self.flush(flush_timeout_ms)
            undelivered = self.undelivered()
            self._close()
        return _report(self, undelivered, flush_timeout_ms)


class MemoryAsyncEventSocket(_MemoryLink):
    """An asyncio memory socket: the same steps, waited for without blocking the loop."""

    def __init__(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        import asyncio

        super().__init__(options, dispatcher)
        self._confirming = asyncio.Lock()

    @staticmethod
    async def _run(step: Callable[[], Any], timeout_ms: int) -> Any:
        """``step()`` again after each change it waits for; None at the deadline."""
        outcome = step()
        deadline = None if not isinstance(outcome, _Wait) else _deadline(timeout_ms)
        while isinstance(outcome, _Wait):  # bounded by the deadline
            if _left(deadline) == 0:
                return None
            await outcome.changes.wait_async(outcome.version, deadline)
            outcome = step()
        return outcome

    async def push(self, event: str, payload: Sequence[Any] = (), reply_to: Any = None) -> Any:
        """:meth:`MemoryEventSocket.push`, awaited; confirmed pushes on one socket are
        serialised, so that each waits for its own confirmation."""
        frames = self._frames(event, payload, reply_to)
        if not self.confirmed or event == CONFIRMED:
            if await self._run(lambda: self._put(frames, reply_to), self.send_timeout_ms):
                return True
        else:
            async with self._confirming:
                if await self._run(lambda: self._put(frames, reply_to), self.send_timeout_ms):
                    confirmation = lambda: self._confirmation(event)  # noqa: E731
                    reply = await self._run(confirmation, self.receive_timeout_ms)
                    if reply is not None:
                        return reply
        return await self.dispatcher.until_async(PUSH_ERROR, self, event, payload, reply_to)

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
            if message.event not in RESERVED:
                await self.confirm(message)
                failures = self.check_incoming(message)
                if failures:
                    event, payload, reply_to = message
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
            socket._queue.lost,
        )
    return undelivered


class MemoryPoller:
    """What a blocking service waits on: a pipe that a change of any of its sockets'
    queues writes to while a :meth:`poll` waits (``signal_fd`` is its write end)."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._sockets = list(sockets)
        self._queues = [socket._queue for socket in self._sockets]
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.signal_fd: int | None = self._write
        self._poll = select.poll()
        self._poll.register(self._read, select.POLLIN)
        self._armed = False  # a poll is waiting: a change writes to the pipe
        self._woken = False
        self._closing = threading.RLock()  # reentrant: wake() may run in a signal handler
        for queue in self._queues:
            with queue.lock:
                queue.watchers.append(self._changed)

    def _changed(self) -> None:
        if self._armed:
            self._armed = False
            self._ring()

    def _ring(self) -> None:
        with self._closing:
            if self._write >= 0:
                # A full pipe means the poll is waking up anyway.
                with contextlib.suppress(OSError):
                    os.write(self._write, b"\0")

    def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets with messages waiting, once some have or after ``timeout_ms``
        (-1: no limit); [] as soon as :meth:`wake` is called."""
        deadline = _deadline(timeout_ms)
        while True:  # bounded by the deadline; each turn waits on the pipe
            self._armed = True
            if self._woken:
                self._armed = self._woken = False
                return []
            ready = [s for s, q in zip(self._sockets, self._queues, strict=True) if q.items]
            if ready:
                self._armed = False
                return ready
            left = _left(deadline)
            if left == 0:
                self._armed = False
                return []
            self._poll.poll(None if left is None else left * 1000)
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 512):
                    pass

    def wake(self) -> None:
        """Make the pending (or the next) poll return [] now; from any thread, and
        from a signal handler."""
        self._woken = True
        self._ring()

    def close(self) -> None:
        for queue in self._queues:
            with queue.lock, contextlib.suppress(ValueError):
                queue.watchers.remove(self._changed)
        with self._closing:
            if self._write >= 0:
                os.close(self._write)
                os.close(self._read)
                self._write = self._read = -1
                self.signal_fd = None


class MemoryAsyncPoller:
    """What an asyncio service waits on: a future that a change of any of its
    sockets' queues resolves, from whichever thread made it."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._sockets = list(sockets)
        self._queues = [socket._queue for socket in self._sockets]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[None] | None = None
        self._woken = False
        for queue in self._queues:
            with queue.lock:
                queue.watchers.append(self._changed)

    def _changed(self) -> None:
        future, loop = self._future, self._loop
        if future is not None and loop is not None:
            self._future = None
            loop.call_soon_threadsafe(_resolve, future)

    async def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets with messages waiting, once some have or after ``timeout_ms``
        (-1: no limit); [] as soon as :meth:`wake` is called."""
        import asyncio

        loop = self._loop = asyncio.get_running_loop()
        deadline = _deadline(timeout_ms)
        while True:  # bounded by the deadline; each turn waits for a change
            # The future first: a wake or a change from now on resolves it.
            future = self._future = loop.create_future()
            if self._woken:
                self._future = None
                self._woken = False
                return []
            ready = [s for s, q in zip(self._sockets, self._queues, strict=True) if q.items]
            if ready:
                self._future = None
                return ready
            try:
                await asyncio.wait_for(future, _left(deadline))
            except TimeoutError:
                return []
            finally:
                self._future = None

    def wake(self) -> None:
        """Make the pending (or the next) poll return [] now; from any thread."""
        self._woken = True
        future, loop = self._future, self._loop
        if future is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    def close(self) -> None:
        for queue in self._queues:
            with queue.lock, contextlib.suppress(ValueError):
                queue.watchers.remove(self._changed)


def _milliseconds(key: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigurationError(f"option {key!r}: expected an int >= {least}, got {value!r}")
    return value


class MemoryTransport(Transport):
    """In-process links between threads and tasks, by name (``memory://NAME``)."""

    name = "memory"
    supports_sync = True
    supports_async = True
    # Within one process only: what runs two (the demo) leaves it out.
    in_process: ClassVar[bool] = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "bind": [],
        "connect": [],
        "max_queued": 1000,
        "send_timeout_ms": 2000,
        "receive_timeout_ms": 2000,
        "flush_on_close": True,
        "flush_timeout_ms": 2000,
        "max_name_bytes": DEFAULT_MAX_NAME_BYTES,
        "max_frames": DEFAULT_MAX_FRAMES,
    }

    @classmethod
    def describe(cls) -> str:
        return "in-process, named endpoints memory://NAME, blocking and asyncio"

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = dict(options)
        for key in ("max_queued", "max_name_bytes", "max_frames"):
            _milliseconds(key, checked[key], 1)
        for key in ("send_timeout_ms", "receive_timeout_ms"):
            _milliseconds(key, checked[key], -1)
        _milliseconds("flush_timeout_ms", checked["flush_timeout_ms"], 0)
        flush_on_close = checked["flush_on_close"]
        if not isinstance(flush_on_close, bool):
            raise ConfigurationError(
                f"option 'flush_on_close': expected true or false, got {flush_on_close!r}"
            )
        checked["bind"] = [SCHEME + n for n in _names_of("bind", checked["bind"])]
        checked["connect"] = [SCHEME + n for n in _names_of("connect", checked["connect"])]
        if not checked["bind"] and not checked["connect"]:
            raise ConfigurationError(
                "options 'bind' and 'connect' are both empty: give a name to bind "
                "(a service, usually) or to connect to, e.g. {'connect': 'memory://orders'}"
            )
        return checked

    def where(self, options: Mapping[str, Any]) -> str:
        return ", ".join([*options["bind"], *options["connect"]])

    def dead_letter_options(self, value: Any) -> Mapping[str, Any] | str:
        """An endpoint (connected to), a connection name, or a dict of options."""
        if isinstance(value, str):
            return {"transport": self.name, "connect": value} if "://" in value else value
        if isinstance(value, Mapping):
            return {"transport": self.name, **value}
        raise ConfigurationError(
            f"option 'dead_letter': expected an endpoint, a connection name or options, "
            f"got {value!r}"
        )

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        return MemoryEventSocket(_names(options), dispatcher)

    def poller(self, sockets: Sequence[Any]) -> MemoryPoller:
        return MemoryPoller(sockets)

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        flush = options["flush_timeout_ms"] if options["flush_on_close"] else None
        return int(socket.close(flush))

    def open_async_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        return MemoryAsyncEventSocket(_names(options), dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> MemoryAsyncPoller:
        return MemoryAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        flush = options["flush_timeout_ms"] if options["flush_on_close"] else None
        return int(await socket.close(flush))


def _names(options: Mapping[str, Any]) -> dict[str, Any]:
    # The sockets keep names; the options keep endpoints, as the user wrote them.
    return {
        **options,
        "bind": _names_of("bind", options["bind"]),
        "connect": _names_of("connect", options["connect"]),
    }


@hookimpl
def register_transports(register: Any) -> None:
    register(MemoryTransport)
