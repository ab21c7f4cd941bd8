"""``EventService``: receives events on one or more sockets and fires them locally.

    EventService().listen(EventListener({"bind": "ipc:///tmp/my.ipc"})).run()

A long-running service survives bad input: a message that cannot be decoded
fires ``zeroevents.pull.error`` (socket, error, what was received) and is counted; a
listener that raises is logged with the event name and counted. Neither stops
the loop. Firing ``zeroevents.service.stop``, calling :meth:`EventService.stop`
(from any thread) or SIGINT/SIGTERM ends :meth:`run` after the event in hand.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from .dispatcher import Dispatcher, default_dispatcher
from .errors import ConfigurationError, DecodeError
from .listener import BaseListener, EventListener, dead_letter_options, load_schemas
from .observers import Observed, Processing, closed, processing, service_started
from .security import AUTH_ERROR, sending_as
from .stats import Stats
from .transports import Control, Message, Poller, Received, Transport
from .transports.codec import PULL_ERROR, RESERVED, SCHEMA_ERROR

if TYPE_CHECKING:
    from .schemas import SchemaRegistry

log = logging.getLogger(__name__)

IDLE = "zeroevents.service.idle"
STOP = "zeroevents.service.stop"

# Messages taken from one ready socket before the others get their turn.
BATCH = 1024

# Each call the shared per-message steps ask for: a callable and its arguments.
Steps = Generator[tuple[Callable[..., Any], tuple[Any, ...]], Any, None]
# The reason of a negative confirmation for an event outside its sender's rights.
OUTSIDE_RIGHTS = "outside the sender's rights"


ServiceStats = Stats
"""The 0.x name of a service's :class:`~.stats.Stats`."""


def leftovers(socket: Any) -> list[Any]:
    """The events of a batch the socket split and still holds (taken from it, in
    order): at most ``max_batch_events``."""
    pending: list[Any] | None = getattr(socket, "unbatched", None)
    if not pending:
        return []
    socket.unbatched = []
    pending.reverse()  # the socket pops them from the end
    return pending


class Endpoint(Protocol):
    """What a service needs of a listener it receives on."""

    transport: Transport
    dead_letter: Any


L = TypeVar("L", bound=Endpoint)


class ServiceCore(Generic[L]):
    """What :class:`EventService` and the asyncio ``AsyncEventService`` share: the
    options, the stats, and the rules for one received message (decode, contracts,
    dead letters, counting); each adds its own loop, confirming and firing."""

    # The listeners it receives on, and its own dead letter, are of this class.
    listener_class: type[BaseListener] = EventListener

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        *,
        schemas: SchemaRegistry | str | os.PathLike[str] | None = None,
        strict: bool = False,
        dead_letter: Mapping[str, Any] | str | None = None,
        halt: bool = False,
    ) -> None:
        if not isinstance(halt, bool):
            raise ConfigurationError(f"option 'halt': expected true or false, got {halt!r}")
        self.halt = halt
        """Fire each received event as the PHP original does (``until``: stop at the
        first listener that answers something other than None); False: call them all."""
        self._dispatcher = dispatcher
        self.schemas = load_schemas(schemas, strict=strict)
        """Contracts for the events of sockets that have none of their own."""
        self.dead_letter: Any = (
            None if dead_letter is None else self.listener_class(dead_letter_options(dead_letter))
        )
        """Where events that break their contracts go when their listener names no
        dead-letter endpoint of its own; None: they are dropped."""
        self._dead_letters: dict[Any, Any] = {}
        self.listeners: list[L] = []
        self.timeout_ms = -1
        self.stats = Stats()
        self._observed: Observed | None = None
        self._processing: Processing | None = None  # an observer's wrapper of each fire
        self._exit: SystemExit | KeyboardInterrupt | None = None
        self._signals: dict[int, Any] | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher if self._dispatcher is not None else default_dispatcher()

    def listen(self, listener: L) -> Self:
        """Receive on ``listener``'s socket too (all are polled together)."""
        if not isinstance(listener, self.listener_class):
            raise ConfigurationError(
                f"{type(self).__name__} receives on {self.listener_class.__name__}s, got "
                f"{listener!r}: make it {self.listener_class.__name__}(options) with the "
                "same options"
            )
        if self.listeners and listener.transport.name != self.listeners[0].transport.name:
            raise ConfigurationError(
                f"one service polls one transport: {listener!r} uses "
                f"{listener.transport.name!r}, the others {self.listeners[0].transport.name!r}"
            )
        self.listeners.append(listener)
        return self

    def poll_timeout(self, milliseconds: int) -> Self:
        """Wait at most this long for a message before firing ``zeroevents.service.idle``
        (-1, the default: wait forever)."""
        if not isinstance(milliseconds, int) or milliseconds < -1:
            raise ConfigurationError(f"poll timeout must be an int >= -1, got {milliseconds!r}")
        self.timeout_ms = milliseconds
        return self

    def _route_dead_letters(self, sockets: list[Any]) -> None:
        self._dead_letters = {
            socket: listener.dead_letter or self.dead_letter
            for socket, listener in zip(sockets, self.listeners, strict=True)
        }

    # The per-message decision, written once for both flavours: a generator of the
    # calls to make (each a callable and its arguments), sent each call's result or
    # thrown its exception. EventService calls them, AsyncEventService awaits them.

    def _route(self, socket: Any, received: Received) -> Message | Steps | None:
        """Count and decode one received message: the Message when firing it is all
        there is to do (the common case pays for no generator), None when there is
        nothing to do (a duplicate), else its steps."""
        self.stats.received += 1
        try:
            message: Message = socket.message(received)
        except DecodeError as error:
            return self._undecodable(socket, received, error)
        if (
            socket.confirmed
            or socket.rights is not None
            or socket.sender is not None
            or socket.schemas is not None
            or self.schemas is not None
            or message.event in RESERVED
            or getattr(socket, "settles_after_fire", False)
        ):
            return self._steps(socket, message)
        if message.event_id is not None and self._duplicate(socket, message):
            return None
        return message

    def _duplicate(self, socket: Any, message: Message) -> bool:
        """At-least-once: whether ``message`` was fired already (counted; acknowledged
        again by the next acknowledgements)."""
        receipt = getattr(socket, "receipt", None)
        if receipt is None or not receipt(message):
            return False
        self.stats.duplicates += 1
        if getattr(socket, "acks_due", False):
            self._batch_done(socket)
        return True

    def _acknowledging(self, socket: Any, message: Message) -> None:
        """After the fire of ``message``: the acknowledgements, if due now."""
        if message.event_id is not None and getattr(socket, "acks_due", False):
            self._batch_done(socket)

    def _undecodable(self, socket: Any, received: Received, error: DecodeError) -> Steps:
        self.stats.decode_errors += 1
        log.warning("dropped a message that cannot be decoded: %s", error)
        yield socket.undecodable, (received,)
        yield from self._notifying(PULL_ERROR, socket, error, received)

    def _steps(self, socket: Any, message: Message) -> Steps:
        """What to do with a decoded message (:meth:`_handling`), then the
        acknowledgements due (at-least-once): after the fire, never before."""
        yield from self._handling(socket, message)
        self._acknowledging(socket, message)

    def _handling(self, socket: Any, message: Message) -> Steps:
        """Library traffic, duplicates (at-least-once), rights, confirm, contracts
        (error event, dead letter), fire."""
        stats = self.stats
        event = message.event
        if event in RESERVED:  # library traffic: never fired
            control = socket.control(message)
            if control is Control.ANSWER:
                yield socket.confirm, (message,)
            elif control is Control.UNSOLICITED:
                stats.unsolicited += 1
                log.warning("dropped an unsolicited %r", event)
            return
        if message.event_id is not None and self._duplicate(socket, message):
            return  # its acknowledgement was lost: acknowledged again
        if socket.rights is not None and self._refused(socket, message):
            yield socket.refuse, (message, OUTSIDE_RIGHTS)
            yield from self._notifying(AUTH_ERROR, socket.sender, event, message.reply_to)
            return
        if socket.confirmed:
            yield socket.confirm, (message,)
        if socket.schemas is not None or self.schemas is not None:
            failures = self._failures(socket, message)
            if failures:
                payload, reply_to = message.payload, message.reply_to
                yield from self._notifying(SCHEMA_ERROR, event, payload, failures, reply_to)
                yield from self._dead_letter(socket, message)
                return
        if socket.sender is None:
            failure = yield self._fire_counted, (message,)
        else:
            with sending_as(socket.sender):
                failure = yield self._fire_counted, (message,)
        # A broker's socket (nats) acks only now that every listener returned (naks
        # with the error when one raised).
        if getattr(socket, "settles_after_fire", False):
            yield socket.settle, (message, failure)

    def _notifying(self, event: str, *payload: Any) -> Steps:
        """Fire a library event (an error, idle); a listener that raises is logged."""
        try:
            yield self._notify, (event, *payload)
        except Exception:
            self._listener_failed(event)

    def _dead_letter(self, socket: Any, message: Message) -> Steps:
        dead_letter = self._dead_letters.get(socket, self.dead_letter)
        if dead_letter is not None:
            try:
                yield dead_letter.socket().forward, (message,)
            except Exception as error:  # the transport's own send errors too
                log.error("could not send %r to the dead-letter endpoint: %s", message.event, error)

    def _batch_done(self, socket: Any) -> None:
        """The end of a batch read from ``socket`` (or ``ack_every`` events recorded):
        acknowledge what it fired; every event recorded so far has been, here."""
        if getattr(socket, "acks_waiting", False):
            socket.send_acks()

    def _fire_counted(self, message: Message) -> Any:
        """Fire a received event on the dispatcher, counted once its listeners
        returned, logged when one raised (each flavour its way); the exception a
        listener raised, else None."""
        raise NotImplementedError

    def _notify(self, event: str, *payload: Any) -> Any:
        """Fire a library event on the dispatcher (each flavour its way)."""
        raise NotImplementedError

    def _failures(self, socket: Any, message: Message) -> list[Any]:
        """The contract failures of ``message`` (counted and logged when there are some)."""
        failures: list[Any] = socket.check_incoming(message, self.schemas)
        if failures:
            self.stats.schema_errors += 1
            log.warning(
                "event %r breaks its contract (%d failures), not fired",
                message.event,
                len(failures),
            )
        return failures

    def _refused(self, socket: Any, message: Message) -> bool:
        """Whether the socket's rights forbid ``message`` to its sender (counted, logged)."""
        if socket.rights.allows(socket.sender, message.event):
            return False
        self.stats.auth_errors += 1
        log.warning(
            "refused %r from %s: outside its rights, not fired",
            message.event,
            repr(socket.sender) if socket.sender else "an unauthenticated sender",
        )
        return True

    # Signals, the same rules in both flavours; each installs them its way.

    def listen_to_signals(
        self,
        signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
        handler: Callable[..., Any] | None = None,
    ) -> Self:
        """Handle ``signals`` while ``run`` runs (installed from the main thread).

        Without ``handler``: SIGINT and SIGTERM stop the service gracefully, SIGHUP
        is ignored. Called with no signals, the service leaves signals alone. The
        blocking service calls ``handler(signum, frame)``, the asyncio one
        ``handler(signum)`` in its loop.
        """
        chosen: dict[int, Any] = {}
        for signum in signals:
            if handler is not None:
                chosen[signum] = handler
            elif signum == signal.SIGHUP:
                chosen[signum] = self._ignored_signal
            else:
                chosen[signum] = self._on_signal
        self._signals = chosen
        return self

    _ignored_signal: Any = None  # what each flavour installs for an ignored signal

    def _on_signal(self, signum: int, *_: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stop()

    def stop(self, *_: Any) -> None:
        """End the run after the events in hand (each service class says how)."""

    def _exiting(self, exit: SystemExit | KeyboardInterrupt) -> None:
        """A listener asked the process to end: stop like ``stop()`` (the events in
        hand finish, the sockets are closed the library's way), then re-raise it."""
        if self._exit is None:
            self._exit = exit
            log.info("a listener raised %s: stopping", type(exit).__name__)
        self.stop()

    def _reraise_exit(self) -> None:
        exit, self._exit = self._exit, None
        if exit is not None:
            raise exit

    def _handling_failed(self) -> None:
        self.stats.internal_errors += 1
        log.exception("dropped a message whose handling failed")

    def _listener_failed(self, event: str) -> None:
        self.stats.listener_errors += 1
        log.exception("a listener of %r raised; the service goes on", event)


class EventService(ServiceCore[EventListener]):
    """Polls its listeners' sockets together and fires every event that arrives."""

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        *,
        schemas: SchemaRegistry | str | os.PathLike[str] | None = None,
        strict: bool = False,
        dead_letter: Mapping[str, Any] | str | None = None,
        halt: bool = False,
    ) -> None:
        super().__init__(
            dispatcher, schemas=schemas, strict=strict, dead_letter=dead_letter, halt=halt
        )
        self._running = False
        self._poller: Poller | None = None
        self._waking = threading.RLock()  # guards _poller between stop() and run()'s end

    _ignored_signal = signal.SIG_IGN

    def stop(self, *_: Any) -> None:
        """End :meth:`run` after the event in hand; safe from threads and signal handlers."""
        self._running = False
        # Reentrant: a signal handler may run in the main thread while it holds it.
        with self._waking:
            if self._poller is not None:
                self._poller.wake()

    def run(self) -> None:
        """Poll and fire until stopped; then close the listeners' sockets.

        A stop (``stop()`` from any thread, a signal, ``zeroevents.service.stop``)
        that comes at any moment from the call to the return is never lost: ``stop()``
        wakes the transport's poller (a wake before its poll is kept for it), and the
        C-level signal handler writes to the poller's ``signal_fd``
        (``signal.set_wakeup_fd``) before any Python runs, so a signal that lands just
        before the poll starts still wakes it.
        """
        if not self.listeners:
            raise ConfigurationError("the service has no listener: call listen(...) first")
        self._running = True  # first: a stop() from here on ends this run
        dispatcher = self.dispatcher
        previous: dict[int, Any] = {}
        previous_wakeup: int | None = None
        poller: Poller | None = None
        try:
            # Inside the try: a listener that fails to open must not leak the others.
            sockets = [listener.socket() for listener in self.listeners]
            self._route_dead_letters(sockets)
            self._observed = service_started(self)
            self._processing = processing(self._observed)
            poller = self.listeners[0].transport.poller(sockets)
            with self._waking:
                self._poller = poller
            if not self._running:  # stopped while the sockets opened: no wake was kept
                return
            dispatcher.listen(STOP, self.stop)
            previous, previous_wakeup = self._install_signals(poller.signal_fd)
            while self._running:
                timeout_ms = self.timeout_ms  # a listener may change it (the CLI's drain)
                ready = poller.poll(timeout_ms)
                if not ready:
                    # Empty: the timeout, or a wake (a stop, or a signal whose handler
                    # did not stop: no idle then when there is no timeout).
                    if self._running and timeout_ms >= 0:
                        self._run_steps(self._notifying(IDLE, self))
                    continue
                for socket in ready:
                    self._drain(socket)
        finally:
            self._running = False
            observed, self._observed = self._observed, None
            closed(observed)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if previous_wakeup is not None:
                signal.set_wakeup_fd(previous_wakeup)
            dispatcher.forget(STOP, self.stop)
            with self._waking:
                self._poller = None
            if poller is not None:
                poller.close()
            for listener in self.listeners:
                listener.close()
            if self.dead_letter is not None:
                self.dead_letter.close()
        self._reraise_exit()

    def _install_signals(self, wakeup_fd: int | None) -> tuple[dict[int, Any], int | None]:
        """Install the handlers (main thread only); the previous ones and the previous
        wakeup fd, to restore."""
        if threading.current_thread() is not threading.main_thread():
            return {}, None
        if self._signals is None:
            self.listen_to_signals()
        assert self._signals is not None
        if not self._signals:  # listen_to_signals(()): signals left alone
            return {}, None
        previous = {signum: signal.signal(signum, h) for signum, h in self._signals.items()}
        if wakeup_fd is None:  # the poller wakes on signals by itself
            return previous, None
        return previous, signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)

    def _drain(self, socket: Any) -> None:
        for _ in range(BATCH):
            if not self._running:
                break
            received = socket.recv_ready()
            if received is None:
                break
            self.handle(socket, received)
        # The rest of a batch split by the socket: no poll would say it is there.
        for received in leftovers(socket):
            if not self._running:
                break
            self.handle(socket, received)
        self._batch_done(socket)

    def handle(self, socket: Any, received: Received) -> None:
        """Decode one received message and fire it; bad input is reported, never raised."""
        try:
            routed = self._route(socket, received)
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed()
            return
        if not isinstance(routed, Message):
            if routed is not None:
                self._run_steps(routed)
            return
        try:
            self._fire_counted(routed)
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)
        if routed.event_id is not None and getattr(socket, "acks_due", False):
            self._batch_done(socket)  # _acknowledging, inlined: the hot path

    def _run_steps(self, steps: Steps) -> None:
        # The blocking driver of the shared steps: each call made in turn.
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
                    outcome = call(*args)
                except BaseException as raised:  # handed to the steps, which may go on
                    error = raised
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed()
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)

    def _fire_counted(self, message: Message) -> Exception | None:
        wrapper = self._processing
        try:
            scope = None if wrapper is None else wrapper(message)
            if scope is None:
                self.dispatcher.fire_message(message, self.halt)
            else:
                with scope:
                    self.dispatcher.fire_message(message, self.halt)
        except Exception as error:
            self._listener_failed(message.event)
            return error
        self.stats.fired += 1
        return None

    def _notify(self, event: str, *payload: Any) -> Any:
        return self.dispatcher.fire(event, *payload)
