"""``EventService``: receives events on one or more sockets and fires them locally.

    EventService().listen(EventListener({"bind": "ipc:///tmp/my.ipc"})).run()

A long-running service survives bad input: a message that cannot be decoded
fires ``zeroevents.pull.error`` (socket, error, frames) and is counted; a
listener that raises is logged with the event name and counted. Neither stops
the loop. Firing ``zeroevents.service.stop``, calling :meth:`EventService.stop`
(from any thread) or SIGINT/SIGTERM ends :meth:`run` after the event in hand.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from .dispatcher import Dispatcher, default_dispatcher
from .errors import ConfigurationError, DecodeError
from .listener import BaseListener, EventListener, dead_letter_options, load_schemas
from .security import AUTH_ERROR, REJECTED, sending_as
from .transports import Message, Poller, Transport
from .transports.codec import CONFIRMED, FLUSH, HELLO, PULL_ERROR, RESERVED, SCHEMA_ERROR

if TYPE_CHECKING:
    from .schemas import SchemaRegistry

log = logging.getLogger(__name__)

IDLE = "zeroevents.service.idle"
STOP = "zeroevents.service.stop"

# Messages taken from one ready socket before the others get their turn.
BATCH = 1024

SignalHandler = Callable[[int, FrameType | None], Any]


@dataclass
class ServiceStats:
    """What a service has seen since it was made."""

    received: int = 0
    fired: int = 0
    decode_errors: int = 0
    listener_errors: int = 0
    schema_errors: int = 0
    internal_errors: int = 0
    """Messages whose handling raised where nothing should (a bug, logged): dropped."""
    auth_errors: int = 0
    """Events outside their authenticated sender's rights: never fired."""
    unsolicited: int = 0
    """Library events nobody asked for (a ``zeroevents.confirmed``, or a
    ``zeroevents.flush`` where no answer can go): logged and dropped, never fired."""


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
        self.stats = ServiceStats()
        self._exit: SystemExit | KeyboardInterrupt | None = None

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

    def _decode(self, socket: Any, frames: list[bytes]) -> Message | DecodeError:
        """Count one received message and decode it; the error when it cannot be
        (counted and logged; the caller fires ``zeroevents.pull.error``)."""
        self.stats.received += 1
        try:
            message: Message = socket.message(frames)
            return message
        except DecodeError as error:
            self._undecodable(error)
            return error

    def _undecodable(self, error: DecodeError) -> None:
        self.stats.decode_errors += 1
        log.warning("dropped a message that cannot be decoded: %s", error)

    def _is_barrier(self, socket: Any, message: Message) -> bool:
        """Whether a reserved ``message`` is a flush barrier to answer; any other
        reserved event arrived unsolicited (counted, logged, dropped). Neither is fired."""
        if message.event == FLUSH and socket.can_reply:
            return True
        self.stats.unsolicited += 1
        log.warning("dropped an unsolicited %r", message.event)
        return False

    def _failures(self, socket: Any, message: Message) -> list[Any]:
        """The contract failures of ``message`` (counted and logged when there are some)."""
        if socket.schemas is None and self.schemas is None:
            return []
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
        rights = socket.rights
        if (
            rights is None
            or message.event in RESERVED
            or rights.allows(socket.sender, message.event)
        ):
            return False
        self.stats.auth_errors += 1
        log.warning(
            "refused %r from %s: outside its rights, not fired",
            message.event,
            repr(socket.sender) if socket.sender else "an unauthenticated sender",
        )
        return True

    def _send_dead_letter(self, socket: Any, message: Message, frames: list[bytes]) -> None:
        dead_letter = self._dead_letters.get(socket, self.dead_letter)
        if dead_letter is not None:
            try:
                address = message.address
                dead_letter.socket().send_frames(frames[1:] if address is not None else frames)
            except Exception as error:  # the transport's own send errors too
                log.error("could not send %r to the dead-letter endpoint: %s", message.event, error)

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

    def _handling_failed(self, frames: list[bytes]) -> None:
        self.stats.internal_errors += 1
        log.exception("dropped a message whose handling failed (%d frames)", len(frames))

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
        self._signals: dict[int, SignalHandler | int] | None = None
        self._running = False
        self._poller: Poller | None = None
        self._waking = threading.RLock()  # guards _poller between stop() and run()'s end

    def listen_to_signals(
        self,
        signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
        handler: SignalHandler | None = None,
    ) -> EventService:
        """Handle ``signals`` while :meth:`run` runs (installed from the main thread).

        Without ``handler``: SIGINT and SIGTERM stop the service gracefully, SIGHUP
        is ignored. Called with no signals, the service leaves signals alone.
        """
        chosen: dict[int, SignalHandler | int] = {}
        for signum in signals:
            if handler is not None:
                chosen[signum] = handler
            elif signum == signal.SIGHUP:
                chosen[signum] = signal.SIG_IGN
            else:
                chosen[signum] = self._on_signal
        self._signals = chosen
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stop()

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
            poller = self.listeners[0].transport.poller(sockets)
            with self._waking:
                self._poller = poller
            if not self._running:  # stopped while the sockets opened: no wake was kept
                return
            dispatcher.listen(STOP, self.stop)
            previous, previous_wakeup = self._install_signals(poller.signal_fd)
            timeout_ms = self.timeout_ms
            while self._running:
                ready = poller.poll(timeout_ms)
                if not ready:
                    # Empty: the timeout, or a wake (a stop, or a signal whose handler
                    # did not stop: no idle then when there is no timeout).
                    if self._running and timeout_ms >= 0:
                        self._fire_guarded(IDLE, self)
                    continue
                for socket in ready:
                    self._drain(socket)
        finally:
            self._running = False
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
                return
            frames = socket.recv_ready()
            if frames is None:
                return
            self.handle(socket, frames)

    def handle(self, socket: Any, frames: list[bytes]) -> None:
        """Decode one received message and fire it; bad input is reported, never raised."""
        try:
            self._handle(socket, frames)
        except Exception:  # the whole path is guarded: no message ends the loop
            self._handling_failed(frames)
        except (SystemExit, KeyboardInterrupt) as exit:  # a listener's sys.exit()
            self._exiting(exit)

    def _handle(self, socket: Any, frames: list[bytes]) -> None:
        # The per-event path of the service: the common case costs only the checks
        # it needs (no contracts, not confirmed) before the fire.
        stats = self.stats
        stats.received += 1
        try:
            message: Message = socket.message(frames)
        except DecodeError as error:
            self._undecodable(error)
            if socket.confirmed:  # the original confirms whatever it took from the wire
                socket.send_frames(socket.confirm_undecodable(frames))
            self._fire_guarded(PULL_ERROR, socket, error, frames)
            return
        event, payload, address = message
        if event in RESERVED:  # library traffic: a barrier is answered, nothing is fired
            if event == HELLO:  # barrier negotiation, for a socket that also sends
                socket.barrier.hear(message)
            elif self._is_barrier(socket, message):
                socket.confirm(message)
            return
        if socket.rights is not None and self._refused(socket, message):
            if socket.confirmed:
                socket.push(CONFIRMED, [event, REJECTED, "outside the sender's rights"], address)
            self._fire_guarded(AUTH_ERROR, socket.sender, event, address)
            return
        if socket.confirmed:
            socket.confirm(message)
        if socket.schemas is not None or self.schemas is not None:
            failures = self._failures(socket, message)
            if failures:
                self._fire_guarded(SCHEMA_ERROR, event, payload, failures, address)
                self._send_dead_letter(socket, message, frames)
                return
        try:
            fire = self.dispatcher.until if self.halt else self.dispatcher.fire
            if socket.sender is None:
                fire(event, *payload)
            else:
                with sending_as(socket.sender):
                    fire(event, *payload)
        except Exception as error:
            self._listener_failed(event)
            if socket.settles_after_fire:
                socket.settle(message, error)
            return
        if socket.settles_after_fire:
            socket.settle(message, None)
        stats.fired += 1

    def _fire_guarded(self, event: str, *payload: Any) -> bool:
        try:
            self.dispatcher.fire(event, *payload)
            return True
        except Exception:
            self._listener_failed(event)
            return False
        except (SystemExit, KeyboardInterrupt) as exit:
            self._exiting(exit)
            return False
