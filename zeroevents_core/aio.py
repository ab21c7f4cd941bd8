"""The asyncio flavour: sockets, a listener and a service that live in an event loop.

    service = AsyncEventService(dispatcher, max_concurrency=1)
    service.listen(AsyncEventListener({"bind": "ipc:///tmp/orders.ipc"}))
    await service.run()

    dispatcher.listen("orders.*", AsyncEventListener({"connect": "ipc:///tmp/orders.ipc"}))
    await dispatcher.fire_async("orders.created", order)

The wire format, the confirmation rule, the error events and the per-message rules
of the service (decode, contracts, dead letters, stats) are those of the blocking
classes, shared with them (:mod:`.transports.codec`, :class:`.service.ServiceCore`).

Order of a received event in confirmed mode: **confirm, then fire**, as the blocking
service and the PHP original do: a confirmation means "received", so a slow
listener never makes the sender time out. What makes it safe: once an event has
been confirmed, its listeners run to the end even when the task running
:meth:`AsyncEventService.run` is cancelled. A cancellation asks for a graceful stop
(no further read; the events in hand are finished; sends are flushed; sockets
closed) and is re-raised once that is done. A second cancellation while that stop
runs aborts the handlers still running. Messages still queued in the socket were
not confirmed: they are not read (the sender's confirmed ``push`` times out and
fires ``zeroevents.push.error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from .dispatcher import Dispatcher
from .errors import ConfigurationError, DecodeError, ZeroEventsError
from .listener import BaseListener
from .security import AUTH_ERROR, REJECTED, sending_as
from .serializers import Serializer
from .service import BATCH, IDLE, STOP, ServiceCore
from .transports import AsyncPoller, Message
from .transports.codec import (
    CONFIRMED,
    FLUSH,
    HELLO,
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    is_confirmation,
)
from .transports.zmq import NOBLOCK, RCVMORE, SNDMORE, ZmqEventCodec

if TYPE_CHECKING:
    import os

    from .schemas import SchemaRegistry

log = logging.getLogger(__name__)

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


class ZmqAsyncPoller:
    """The ``zmq`` transport's :class:`~.transports.AsyncPoller`: a ``zmq.asyncio.Poller``
    that an asyncio service can wake up."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._poller = zmq.asyncio.Poller()
        for socket in sockets:
            self._poller.register(socket, zmq.POLLIN)
        self._pending: asyncio.Future[Any] | None = None
        self._woken = False

    async def poll(self, timeout_ms: int) -> list[Any]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout_ms < 0 else loop.time() + timeout_ms / 1000
        while not self._woken:
            left = -1.0 if deadline is None else max(0.0, (deadline - loop.time()) * 1000)
            future: asyncio.Future[Any] = self._poller.poll(left)  # type: ignore[assignment]
            self._pending = future
            try:
                ready = await future
            except zmq.Again:
                # pyzmq ends a poll with Again when a socket's RCVTIMEO elapses first.
                if deadline is not None and loop.time() >= deadline:
                    return []
                continue
            finally:
                self._pending = None
            found = [socket for socket, _ in ready]
            for socket in found:
                socket.barrier.due = True  # greet a sender that joined a busy socket
            return found
        self._woken = False
        return []

    def wake(self) -> None:
        pending = self._pending
        if pending is not None and not pending.done():
            pending.set_result([])
        else:
            self._woken = True


class AsyncEventListener(BaseListener):
    """Forwards each event it is called for to an asyncio socket, lazily opened.

    Listening on a dispatcher, it is awaited by ``fire_async``; called by a blocking
    ``fire`` from code running in the event loop, it schedules the push as a task on
    the running loop and returns that task (await it, or :meth:`drain` them all).
    """

    def __init__(
        self, options: Mapping[str, Any] | str, dispatcher: Dispatcher | None = None
    ) -> None:
        super().__init__(options, dispatcher)
        if not self.transport.supports_async:
            raise ConfigurationError(
                f"transport {self.transport.name!r} has no asyncio sockets; "
                "use EventListener with it"
            )
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def sibling(
        cls, options: Mapping[str, Any] | str, dispatcher: Dispatcher | None = None
    ) -> AsyncEventListener:
        """An asyncio listener, for a dead letter: sent to without blocking the loop."""
        return AsyncEventListener(options, dispatcher)

    def socket(self) -> Any:
        """The listener's asyncio socket, opened, bound and connected on first call."""
        if self._socket is None:
            self._socket = self.transport.open_async_socket(self.options, self.dispatcher)
        return self._socket

    async def push(
        self, event: str, payload: Sequence[Any] = (), address: bytes | None = None
    ) -> Any:
        """Send one event now (see :meth:`AsyncEventSocket.push`)."""
        return await self.socket().push(event, payload, address)

    def __call__(self, *payload: Any) -> Any:
        dispatcher = self.dispatcher
        event = dispatcher.firing()
        if event is None:
            raise ZeroEventsError(
                "AsyncEventListener was called outside of a fire: there is no event name "
                "to forward; register it with dispatcher.listen(...)"
            )
        socket = self._socket
        if socket is None:
            socket = self.socket()
        if dispatcher.firing_async():
            return socket.push(str(event), payload)  # a coroutine, awaited by fire_async
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ZeroEventsError(
                f"AsyncEventListener got {event!r} from a blocking fire() with no running "
                "event loop; fire from a coroutine, or use EventListener"
            ) from None
        task = loop.create_task(socket.push(event, payload))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a scheduled push failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the pushes scheduled by blocking fires."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> int:
        """Finish the scheduled pushes, close the socket behind the negotiated flush
        barrier; return how many events sent may not have been delivered (as
        :meth:`EventListener.close`)."""
        undelivered = 0
        try:
            await self.drain()
        finally:
            if self._socket is not None:
                socket, self._socket = self._socket, None
                undelivered = await self.transport.close_async_socket(socket, self.options) or 0
            if self.dead_letter is not None:
                await self.dead_letter.aclose()
        return undelivered

    async def __aenter__(self) -> AsyncEventListener:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncEventService(ServiceCore[AsyncEventListener]):
    """Waits on its listeners' sockets in the event loop and fires every event with
    ``fire_async``.

    ``max_concurrency`` events are handled at once: 1 (the default) handles them one
    after the other, in order; above 1, each runs in its own task and the service
    stops reading while ``max_concurrency`` are in flight, so a flood waits in the
    sockets (bounded by their high-water marks), not in memory.

    It receives on asyncio listeners only (a blocking ``EventListener`` is refused
    at :meth:`listen`), and sends dead letters with ``await``.
    """

    listener_class = AsyncEventListener

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        *,
        max_concurrency: int = 1,
        schemas: SchemaRegistry | str | os.PathLike[str] | None = None,
        strict: bool = False,
        dead_letter: Mapping[str, Any] | str | None = None,
        halt: bool = False,
    ) -> None:
        if (
            not isinstance(max_concurrency, int)
            or isinstance(max_concurrency, bool)
            or max_concurrency < 1
        ):
            raise ConfigurationError(
                f"max_concurrency must be an int >= 1, got {max_concurrency!r}"
            )
        super().__init__(
            dispatcher, schemas=schemas, strict=strict, dead_letter=dead_letter, halt=halt
        )
        self.max_concurrency = max_concurrency
        self._signals: dict[int, Callable[[int], Any]] | None = None
        self._running = False
        self._poller: AsyncPoller | None = None
        self._slots: asyncio.Semaphore | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def listen_to_signals(
        self,
        signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
        handler: Callable[[int], Any] | None = None,
    ) -> AsyncEventService:
        """Handle ``signals`` with ``loop.add_signal_handler`` while :meth:`run` runs
        (main thread only); ``handler(signum)`` is called in the loop.

        Without ``handler``: SIGINT and SIGTERM stop the service gracefully, SIGHUP
        is ignored. Called with no signals, the service leaves signals alone.
        """
        chosen: dict[int, Callable[[int], Any]] = {}
        for signum in signals:
            if handler is not None:
                chosen[signum] = handler
            elif signum == signal.SIGHUP:
                chosen[signum] = _ignore
            else:
                chosen[signum] = self._on_signal
        self._signals = chosen
        return self

    def _on_signal(self, signum: int) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stop()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def in_flight(self) -> int:
        """Events being handled right now in their own tasks (``max_concurrency`` > 1)."""
        return len(self._in_flight)

    def stop(self, *_: Any) -> None:
        """End :meth:`run` gracefully: no further read, the events in hand finish.
        Safe from any thread: from another than the loop's, the wake-up is handed to
        the loop (``call_soon_threadsafe``), so a stop is never lost."""
        self._running = False
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop has closed: run() is over
                loop.call_soon_threadsafe(self._wake)
            return
        self._wake()

    def _wake(self) -> None:
        if self._poller is not None:
            self._poller.wake()

    async def run(self) -> None:
        """Wait and fire until stopped (or cancelled); then close the sockets."""
        if not self.listeners:
            raise ConfigurationError("the service has no listener: call listen(...) first")
        if self._running:
            raise ConfigurationError("the service is already running")
        self._running = True
        serving = asyncio.ensure_future(self._serve())
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            # Graceful: the events in hand were confirmed; finish them, then re-raise.
            # A second cancellation here propagates into ``serving`` and aborts them.
            self.stop()
            await serving
            raise
        self._reraise_exit()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._loop = loop
        dispatcher = self.dispatcher
        try:
            sockets = [listener.socket() for listener in self.listeners]
            self._route_dead_letters(sockets)
            poller = self._poller = self.listeners[0].transport.async_poller(sockets)
            if not self._running:  # stopped (or cancelled) before it started
                return
            self._slots = (
                None if self.max_concurrency == 1 else asyncio.Semaphore(self.max_concurrency)
            )
            dispatcher.listen(STOP, self.stop)
            previous = self._install_signals(loop)
            try:
                while self._running:
                    ready = await poller.poll(self.timeout_ms)
                    if not ready:
                        if self._running:
                            await self._fire_guarded(IDLE, self)
                        continue
                    for socket in ready:
                        await self._drain(socket, loop)
            except BaseException:
                for task in self._in_flight:
                    task.cancel()
                raise
            finally:
                self._running = False
                self._restore_signals(loop, previous)
                dispatcher.forget(STOP, self.stop)
                if self._in_flight:
                    await asyncio.gather(*self._in_flight, return_exceptions=True)
        finally:
            self._running = False
            self._poller = None
            self._loop = None
            for listener in self.listeners:
                try:
                    await listener.aclose()
                except Exception:
                    log.exception("could not close %r", listener)
            if self.dead_letter is not None:
                await self.dead_letter.aclose()

    async def _drain(self, socket: Any, loop: asyncio.AbstractEventLoop) -> None:
        slots = self._slots
        for _ in range(BATCH):
            if not self._running:
                return
            if slots is None:
                frames = socket.recv_ready()
                if frames is None:
                    return
                await self.handle(socket, frames)
                continue
            await slots.acquire()  # back-pressure: no read while the slots are taken
            frames = socket.recv_ready() if self._running else None
            if frames is None:
                slots.release()
                return
            task = loop.create_task(self._handle_in_slot(socket, frames, slots))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _handle_in_slot(
        self, socket: Any, frames: list[bytes], slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.handle(socket, frames)
        finally:
            slots.release()

    async def handle(self, socket: Any, frames: list[bytes]) -> None:
        """Decode one received message, confirm it when asked, then fire it; bad input
        is reported, never raised (the rules of :meth:`EventService.handle`)."""
        try:
            await self._handle(socket, frames)
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed(frames)
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)

    async def _handle(self, socket: Any, frames: list[bytes]) -> None:
        message = self._decode(socket, frames)
        if isinstance(message, DecodeError):
            if socket.confirmed:  # the original confirms whatever it took from the wire
                await socket.send_frames(socket.confirm_undecodable(frames))
            await self._fire_guarded(PULL_ERROR, socket, message, frames)
            return
        if message.event in RESERVED:  # library traffic: a barrier is answered, not fired
            if message.event == HELLO:  # barrier negotiation, for a socket that also sends
                socket.barrier.hear(message)
            elif self._is_barrier(socket, message):
                await socket.confirm(message)
            return
        if socket.rights is not None and self._refused(socket, message):
            event, _, address = message
            if socket.confirmed:
                reason = "outside the sender's rights"
                await socket.push(CONFIRMED, [event, REJECTED, reason], address)
            await self._fire_guarded(AUTH_ERROR, socket.sender, event, address)
            return
        if socket.confirmed:
            await socket.confirm(message)
        failures = self._failures(socket, message)
        if failures:
            event, payload, address = message
            await self._fire_guarded(SCHEMA_ERROR, event, payload, failures, address)
            await self._send_dead_letter_async(socket, message, frames)
            return
        if socket.settles_after_fire:
            await self._fire_and_settle(socket, message)
            return
        if socket.sender is None:  # the common case pays no context variable
            fired = await self._fire_guarded(message.event, *message.payload, halt=self.halt)
        else:
            with sending_as(socket.sender):
                fired = await self._fire_guarded(message.event, *message.payload, halt=self.halt)
        if fired:
            self.stats.fired += 1

    async def _fire_and_settle(self, socket: Any, message: Message) -> None:
        # A broker socket acks after the fire, or naks with the listener's error.
        try:
            await self.dispatcher.fire_async(message.event, *message.payload, halt=self.halt)
        except Exception as error:
            self._listener_failed(message.event)
            await socket.settle(message, error)
            return
        except (SystemExit, KeyboardInterrupt) as exit:
            self._exiting(exit)  # left unsettled: the server redelivers it after ack_wait
            return
        self.stats.fired += 1
        await socket.settle(message, None)

    async def _send_dead_letter_async(
        self, socket: Any, message: Message, frames: list[bytes]
    ) -> None:
        # Awaited: a dead letter with no peer waits its send timeout without
        # blocking the loop (the blocking send stalled it for the whole timeout).
        dead_letter = self._dead_letters.get(socket, self.dead_letter)
        if dead_letter is not None:
            try:
                kept = frames[1:] if message.address is not None else frames
                await dead_letter.socket().send_frames(kept)
            except Exception as error:  # the transport's own send errors too
                log.error("could not send %r to the dead-letter endpoint: %s", message.event, error)

    async def _fire_guarded(self, event: str, *payload: Any, halt: bool = False) -> bool:
        try:
            await self.dispatcher.fire_async(event, *payload, halt=halt)
            return True
        except Exception:
            self._listener_failed(event)
            return False
        except (SystemExit, KeyboardInterrupt) as exit:
            self._exiting(exit)
            return False

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        if self._signals is None:
            self.listen_to_signals()
        assert self._signals is not None
        previous: dict[int, Any] = {}
        for signum, handler in self._signals.items():
            try:
                before = signal.getsignal(signum)
                loop.add_signal_handler(signum, handler, signum)
            except (NotImplementedError, RuntimeError, ValueError) as error:
                log.warning("cannot handle signal %s in this loop: %s", signum, error)
                continue
            previous[signum] = before
        return previous

    @staticmethod
    def _restore_signals(loop: asyncio.AbstractEventLoop, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            if handler is not None:
                signal.signal(signum, handler)


def _ignore(signum: int) -> None:
    log.info("signal %s ignored", signal.Signals(signum).name)


__all__ = [
    "AsyncEventListener",
    "AsyncEventService",
    "AsyncEventSocket",
    "ZmqAsyncPoller",
]
