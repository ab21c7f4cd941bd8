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
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .dispatcher import Dispatcher
from .errors import ConfigurationError, ZeroEventsError
from .listener import BaseListener
from .observers import (
    Sending,
    closed,
    listener_opened,
    processing,
    sending,
    service_started,
)
from .plugins import BUILTIN_TRANSPORT_MODULE
from .service import BATCH, IDLE, STOP, ServiceCore, Steps, leftovers
from .transports import AsyncPoller, Message, Received
from .transports.codec import PUSH_ERROR
from .transports.reliable import FlushReport

if TYPE_CHECKING:
    import os

    from .outbox.link import OutboxLink
    from .schemas import SchemaRegistry

log = logging.getLogger(__name__)


async def _wrapped(
    wrapper: Sending | None,
    event: str,
    headers: Mapping[str, str] | None,
    send: Callable[[Mapping[str, str] | None], Awaitable[Any]],
) -> Any:
    # Run in the fire's context (a task copies it): the wrapper sees its span. With
    # no scope, the fire's headers go as they are.
    scope = None if wrapper is None else wrapper(event, headers)
    if scope is None:
        return await send(headers)
    with scope as headers:
        return await send(headers)


def _pushed(socket: Any, event: str, payload: Any) -> Callable[[Any], Awaitable[Any]]:
    def push(headers: Mapping[str, str] | None) -> Awaitable[Any]:
        if headers is None:
            return socket.push(event, payload)  # type: ignore[no-any-return]
        return socket.push(event, payload, headers=headers)  # type: ignore[no-any-return]

    return push


def _ignore(signum: int) -> None:
    log.info("signal %s ignored", signal.Signals(signum).name)


class AsyncEventListener(BaseListener):
    """Forwards each event it is called for to an asyncio socket, lazily opened.

    Listening on a dispatcher, it is awaited by ``fire_async``; called by a blocking
    ``fire`` from code running in the event loop, it schedules the push as a task on
    the running loop and returns that task (await it, or :meth:`drain` them all).
    Refused (ConfigurationError) for a transport without ``supports_async``.
    """

    side = "async"
    _outbox: OutboxLink | None = None

    def __init__(
        self, options: Mapping[str, Any] | str, dispatcher: Dispatcher | None = None
    ) -> None:
        super().__init__(options, dispatcher)
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
            if self.options["outbox"] is not None:
                # The blocking listener's outbox, shared: its sender thread delivers the
                # rows; only the commit a fire waits for moves off the loop (_stored).
                from .outbox.link import OutboxLink

                self._outbox = OutboxLink(self.transport, self.options, self.dispatcher)
                socket = self._outbox.socket
            else:
                socket = self.transport.open_async_socket(self.options, self.dispatcher)
            self._observed = listener_opened(self, socket)
            self._sending = sending(self._observed)
            self._socket = socket
        return self._socket

    async def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one event now (see :meth:`AsyncEventSocket.push`); with ``outbox``,
        store it (True once committed)."""
        socket = self.socket()
        if self._outbox is not None:
            if reply_to is not None:
                raise ZeroEventsError(
                    f"{event!r}: an outbox row has no reply_to; push it without the outbox"
                )
            return await self._stored(self._outbox, event, payload, headers)
        if headers is None:
            return await socket.push(event, payload, reply_to)
        return await socket.push(event, payload, reply_to, headers)

    async def flush(self, timeout: float) -> FlushReport:
        """:meth:`EventListener.flush`, awaited: the pushes scheduled by blocking
        fires are sent first."""
        await self.drain()
        if self._outbox is not None:
            return await asyncio.to_thread(self._outbox.flush, timeout)
        settle = getattr(self._socket, "settle", None)
        if settle is None:
            return FlushReport()
        report: FlushReport = await settle(int(timeout * 1000))
        return report

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
        headers = dispatcher.firing_headers()
        if dispatcher.firing_async():  # a coroutine, awaited by fire_async
            return self._push(socket, str(event), payload, headers)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ZeroEventsError(
                f"AsyncEventListener got {event!r} from a blocking fire() with no running "
                "event loop; fire from a coroutine, or use EventListener"
            ) from None
        push = self._push(socket, event, payload, headers)
        task = loop.create_task(push)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _push(
        self, socket: Any, event: str, payload: Any, headers: Mapping[str, str] | None
    ) -> Any:
        wrapper = self._sending
        outbox = self._outbox
        if outbox is not None:
            # As EventListener.__call__: the row is stored inside the observer's wrapper.
            return _wrapped(
                wrapper, event, headers, lambda sent: self._stored(outbox, event, payload, sent)
            )
        if wrapper is not None:
            return _wrapped(wrapper, event, headers, _pushed(socket, event, payload))
        if headers is None:
            return socket.push(event, payload)
        return socket.push(event, payload, headers=headers)

    async def _stored(
        self, link: OutboxLink, event: str, payload: Any, headers: Mapping[str, str] | None
    ) -> Any:
        # A "normal" commit runs in the loop (less than a worker thread's hand-over),
        # one for the events its tasks stored in one pass; one that could take long
        # (a full outbox, sync "full") waits in a worker thread. A fire cancelled once
        # committed still has its row sent.
        frames = link.serialized(event, payload)
        stored = await link.store_in_loop(event, frames, headers)
        if stored is None:
            stored = await asyncio.to_thread(link.store_serialized, event, frames, headers)
        if stored:
            return True
        return await self.dispatcher.until_async(PUSH_ERROR, link.socket, event, payload, None)

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
            outbox, self._outbox = self._outbox, None
            if outbox is not None:
                self._socket = None
                observed, self._observed = self._observed, None
                self._sending = None
                closed(observed)
                undelivered = await asyncio.to_thread(outbox.close)
            elif self._socket is not None:
                socket, self._socket = self._socket, None
                observed, self._observed = self._observed, None
                self._sending = None
                closed(observed)
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
        self._running = False
        self._poller: AsyncPoller | None = None
        self._slots: asyncio.Semaphore | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._socket_of: dict[asyncio.Task[None], Any] = {}  # the socket of each fire
        # Acknowledgements waiting for the fires that ran when they were taken.
        self._held: list[tuple[set[asyncio.Task[None]], Any, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    _ignored_signal = staticmethod(_ignore)

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
            self._observed = service_started(self)
            self._processing = processing(self._observed)
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
                            await self._run_steps(self._notifying(IDLE, self))
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
            observed, self._observed = self._observed, None
            closed(observed)
            if self._poller is not None:
                self._poller.close()
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
                break
            if slots is None:
                received = socket.recv_ready()
                if received is None:
                    break
                await self.handle(socket, received)
                continue
            if getattr(socket, "acks_commit", False) and socket.acks_due:
                # Acknowledgements due that commit the dedup store: no new fire of this
                # socket until those running end, so that they are not put off forever.
                fires = [task for task, of in self._socket_of.items() if of is socket]
                if fires:
                    await asyncio.wait(fires)  # the last one takes them (_batch_done)
            await slots.acquire()  # back-pressure: no read while the slots are taken
            received = socket.recv_ready() if self._running else None
            if received is None:
                slots.release()
                break
            task = loop.create_task(self._handle_in_slot(socket, received, slots))
            self._in_flight.add(task)
            self._socket_of[task] = socket
            task.add_done_callback(self._task_done)
        # The rest of a batch split by the socket: no poll would say it is there.
        for received in leftovers(socket):
            if not self._running:
                break
            if slots is None:
                await self.handle(socket, received)
                continue
            await slots.acquire()
            task = loop.create_task(self._handle_in_slot(socket, received, slots))
            self._in_flight.add(task)
            task.add_done_callback(self._task_done)
        self._batch_done(socket)

    def _batch_done(self, socket: Any) -> None:
        # With several fires at once, acknowledgements taken now wait until the fires
        # running now (whose events they may cover) have returned.
        if not getattr(socket, "acks_waiting", False):
            return
        current = asyncio.current_task()
        running = {task for task in self._in_flight if task is not current}
        if getattr(socket, "acks_commit", False):
            # Taking them commits the dedup store's transaction, the fires' effects with
            # it (dedup_store): only when no fire of this socket is half-way through.
            if not any(self._socket_of.get(task) is socket for task in running):
                socket.send_acks()
            return
        if not running:
            socket.send_acks()
        else:
            self._held.append((running, socket, socket.take_acks()))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._socket_of.pop(task, None)
        if not self._held:
            return
        still: list[tuple[set[asyncio.Task[None]], Any, Any]] = []
        for running, socket, acks in self._held:
            running.discard(task)
            if running:
                still.append((running, socket, acks))
            else:
                try:
                    socket.send_acks(acks)
                except Exception:  # a socket closed meanwhile: its senders retransmit
                    log.debug("acknowledgements not sent", exc_info=True)
        self._held = still

    async def _handle_in_slot(
        self, socket: Any, received: Received, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.handle(socket, received)
        finally:
            slots.release()
            self._batch_done(socket)  # the last fire running acknowledges them all

    async def handle(self, socket: Any, received: Received) -> None:
        """Decode one received message, confirm it when asked, then fire it; bad input
        is reported, never raised (the rules of :meth:`EventService.handle`)."""
        try:
            routed = self._route(socket, received)
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed()
            return
        if not isinstance(routed, Message):
            if routed is not None:
                await self._run_steps(routed)
            return
        try:
            await self._fire_counted(routed)
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)
        if routed.event_id is not None and getattr(socket, "acks_due", False):
            self._batch_done(socket)  # _acknowledging, inlined: the hot path

    async def _run_steps(self, steps: Steps) -> None:
        # The asyncio driver of the shared steps: each call awaited in turn (a dead
        # letter with no peer waits its send timeout without blocking the loop).
        outcome: Any = None
        error: BaseException | None = None
        try:
            while True:  # as long as the steps, a handful per message
                try:
                    call, args = steps.send(outcome) if error is None else steps.throw(error)
                except StopIteration:
                    return
                outcome, error = None, None
                try:
                    outcome = await call(*args)
                except BaseException as raised:  # handed to the steps, which may go on
                    error = raised
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed()
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)

    async def _fire_counted(self, message: Message) -> Exception | None:
        wrapper = self._processing
        try:
            scope = None if wrapper is None else wrapper(message)
            if scope is None:
                await self.dispatcher.fire_message_async(message, self.halt)
            else:
                with scope:
                    await self.dispatcher.fire_message_async(message, self.halt)
        except Exception as error:
            self._listener_failed(message.event)
            return error
        self.stats.fired += 1
        return None

    async def _notify(self, event: str, *payload: Any) -> Any:
        return await self.dispatcher.fire_async(event, *payload)

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


__all__ = ["AsyncEventListener", "AsyncEventService"]


def __getattr__(name: str) -> Any:
    # The built-in transport's asyncio socket and poller, importable from here as in 0.x.
    if name in ("AsyncEventSocket", "ZmqAsyncPoller"):
        return getattr(importlib.import_module(BUILTIN_TRANSPORT_MODULE), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
