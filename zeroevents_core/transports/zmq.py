"""The built-in ZeroMQ transport: :class:`EventSocket` and the ``zmq`` plugin.

``EventSocket`` is a ``zmq.Socket`` (every native method works) that also sends
and receives whole events. Sends go frame by frame with ``SNDMORE`` and receives
check ``RCVMORE`` frame by frame: with small frames this is several times
cheaper than ``send_multipart``/``recv_multipart``.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import zmq

from ..errors import ConfigurationError
from ..hookspecs import hookimpl
from ..serializers import Serializer
from . import Message, Transport
from .codec import (
    CONFIRMED,
    FLUSH,
    PULL_ERROR,
    PUSH_ERROR,
    SCHEMA_ERROR,
    EventCodec,
    is_confirmation,
)

if TYPE_CHECKING:
    from ..dispatcher import Dispatcher
    from ..schemas import SchemaRegistry

SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)
RCVMORE = int(zmq.RCVMORE)
ROUTER = int(zmq.ROUTER)
# The hot path calls the compiled methods directly: pyzmq's Python-level send
# wrapper (routing ids, groups) costs as much as the send itself for small frames.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get


def _default_dispatcher() -> Dispatcher:
    from ..dispatcher import default_dispatcher

    return default_dispatcher()


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """``method`` run with the socket's send lock held (see ``EventSocket.push``)."""

    @functools.wraps(method)
    def locked(self: EventSocket, *args: Any, **kwargs: Any) -> Any:
        with self._sending:
            return method(self, *args, **kwargs)

    return cast(F, locked)


class ZmqEventCodec(EventCodec):
    """What the blocking and the asyncio ZeroMQ event sockets share beyond the wire
    rules: their set-up and their dispatcher."""

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _serializer: Serializer
    _accept: frozenset[str]
    _dispatcher: Dispatcher | None
    schemas: SchemaRegistry | None
    confirmed: bool
    routes_replies: bool
    has_sent: bool = False

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
        except BaseException:
            self.close(linger=0)  # type: ignore[attr-defined]
            raise
        self._dispatcher = dispatcher
        self.routes_replies = socket_type == ROUTER

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher if self._dispatcher is not None else _default_dispatcher()


class EventSocket(ZmqEventCodec, zmq.Socket[bytes]):
    """A ZeroMQ socket that pushes and pulls events.

    ``serializer`` is a registered name or a :class:`Serializer`; ``accept`` the
    serializer names this socket may be switched to (default: only its own).
    ``dispatcher`` receives the error events (default: ``zeroevents_core.events``).
    ``schemas`` (a :class:`~zeroevents_core.schemas.SchemaRegistry`) is enforced on
    ``push`` (:class:`SchemaValidationError`, nothing sent) and on ``pull``.

    ``push``, ``flush`` and ``close`` may be called from any number of threads at
    once (they take the socket's lock); receiving (``pull``, a service) stays on
    one thread, as the native methods do.
    """

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _sending: threading.Lock

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
        super().__init__(context, socket_type)
        self._sending = threading.Lock()
        self._init_event_socket(
            context, socket_type, serializer, confirmed, dispatcher, accept, schemas
        )

    def send_frames(self, frames: Sequence[bytes], flags: int = 0) -> None:
        """Send one multipart message frame by frame."""
        more = flags | SNDMORE
        for frame in frames[:-1]:
            _send(self, frame, more)
        _send(self, frames[-1], flags)

    def recv_frames(self, flags: int = 0) -> list[bytes]:
        """Receive one whole multipart message; ``zmq.Again`` when none is ready."""
        frames: list[bytes] = [_recv(self, flags)]
        while _get(self, RCVMORE):
            frames.append(_recv(self))
        return frames

    def recv_ready(self) -> list[bytes] | None:
        """The frames of one message if one is waiting, else None (never blocks)."""
        try:
            return self.recv_frames(NOBLOCK)
        except zmq.Again:
            return None

    def push(self, event: str, payload: Sequence[Any] = (), address: bytes | None = None) -> Any:
        """Send ``event`` with ``payload`` (to ``address`` on a ROUTER).

        Returns True once sent; in confirmed mode, the ``zeroevents.confirmed``
        :class:`Message`. When the send fails (timeout, no peer, high-water mark)
        or no confirmation comes within the receive timeout, fires
        ``zeroevents.push.error`` (socket, event, payload, address) and returns the
        first non-None response of its listeners.

        Safe from any number of threads at once: each push holds the socket's lock
        from encoding to its last frame (to its confirmation in confirmed mode).
        """
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        # Encoding inside the lock too: a serializer plugin need not be thread-safe.
        with self._sending:
            frames = self.encode(event, payload)
            if address is not None:
                frames.insert(0, address)
            try:
                for frame in frames[:-1]:
                    _send(self, frame, SNDMORE)
                _send(self, frames[-1])
                if not self.has_sent:
                    self.has_sent = True
                if self.confirmed and event != CONFIRMED:
                    return self._await_confirmation(event)
                return True
            except zmq.ZMQError:
                pass
        # Outside the lock: a listener of the error may push on this socket again.
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, address)

    def _await_confirmation(self, event: str) -> Message:
        # Called with the lock held: no other thread's push can take this reply.
        timeout = int(self.get(zmq.RCVTIMEO))
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        while True:
            reply = self.message(self.recv_frames())
            if is_confirmation(reply, event):
                return reply
            if deadline is not None and time.monotonic() >= deadline:
                raise zmq.Again()

    @_locked
    def flush(self, timeout_ms: int, peers: int = 1) -> bool:
        """Wait until ``peers`` receivers have taken every event sent so far.

        Sends the ``zeroevents.flush`` barrier (once per peer: a DEALER deals
        round-robin) and waits for each confirmation, ``timeout_ms`` at most (-1: no
        limit). Closing a socket while its receiver sits at its high-water mark can
        otherwise lose the messages in flight (libzmq issue 4660). Needs a reply
        path: DEALER or PAIR. Returns whether every barrier was confirmed.
        """
        previous = self.get(zmq.RCVTIMEO)
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        try:
            for _ in range(peers):
                self.send_frames(self.encode(FLUSH))
            for _ in range(peers):
                left = -1 if deadline is None else int((deadline - time.monotonic()) * 1000)
                if deadline is not None and left <= 0:
                    return False
                self.set(zmq.RCVTIMEO, left)
                self._await_confirmation(FLUSH)
            return True
        except zmq.ZMQError:
            return False
        finally:
            self.set(zmq.RCVTIMEO, previous)

    def close(self, linger: int | None = None) -> None:
        """Close the socket; waits for a push in progress in another thread."""
        sending = self.__dict__.get("_sending")  # absent when __init__ failed early
        if sending is None:
            super().close(linger)
            return
        with sending:
            super().close(linger)

    def pull(self) -> Any:
        """Receive one event as a :class:`Message`, confirming it in confirmed mode.

        When nothing arrives within the receive timeout, fires
        ``zeroevents.pull.error`` (socket) and returns the first non-None response
        of its listeners; for an event that breaks the socket's contracts, the same
        with ``zeroevents.schema.error`` (event, payload, failures, address). A message
        that cannot be decoded raises :class:`DecodeError`.
        """
        try:
            frames = self.recv_frames()
        except zmq.Again:
            return self.dispatcher.until(PULL_ERROR, self)
        message = self.message(frames)
        self.confirm(message)
        failures = self.check_incoming(message)
        if failures:
            event, payload, address = message
            return self.dispatcher.until(SCHEMA_ERROR, event, payload, failures, address)
        return message

    def confirm(self, message: Message) -> None:
        """Answer ``message`` with ``zeroevents.confirmed`` when confirmed mode asks for it."""
        if self.needs_confirmation(message.event):
            self.push(CONFIRMED, [message.event], message.address)

    def pull_and_fire(self, dispatcher: Dispatcher | None = None) -> Any:
        """Pull one event and fire it with ``until``; return that response."""
        message = self.pull()
        if not isinstance(message, Message):
            return message
        target = dispatcher if dispatcher is not None else self.dispatcher
        return target.until(message.event, *message.payload)


# Options ------------------------------------------------------------------------------

SOCKET_TYPES = {
    name: int(getattr(zmq, name))
    for name in ("PAIR", "PUB", "SUB", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB")
}
# Socket types whose peer can answer, so that a closing sender can wait for a barrier.
_REPLY_PATH = frozenset({zmq.DEALER, zmq.PAIR})
_ENDPOINT = re.compile(r"^(tcp|ipc|inproc|pgm|epgm|ws|wss|vmci)://(?P<address>.+)$")
_TCP_ADDRESS = re.compile(r"^(\[[^\]]+\]|[^:\[\]]+):(\*|\d{1,5})$")


def socket_type_of(value: Any) -> int:
    """A ZeroMQ socket type from a constant or a name such as ``"PUSH"``."""
    if isinstance(value, str) and value.upper() in SOCKET_TYPES:
        return SOCKET_TYPES[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value in SOCKET_TYPES.values():
        return value
    raise ConfigurationError(
        f"option 'socket_type': unknown socket type {value!r}; use one of {', '.join(SOCKET_TYPES)}"
    )


def socket_option_of(key: Any) -> int:
    """A ZeroMQ socket option constant from a constant or a name such as ``"LINGER"``."""
    try:
        if isinstance(key, str):
            return int(zmq.SocketOption[key.upper()])
        if isinstance(key, int) and not isinstance(key, bool):
            return int(zmq.SocketOption(key))
    except (KeyError, ValueError):
        pass
    raise ConfigurationError(f"option 'socket_options': unknown ZeroMQ socket option {key!r}")


def socket_option_value(option: int, value: Any) -> Any:
    """``value`` if it has the type ZeroMQ wants for ``option`` (checked when the
    options are given, not when the socket opens)."""
    known = zmq.SocketOption(option)
    kind = getattr(getattr(known, "_opt_type", None), "value", None)
    wanted = {"int": int, "int64": int, "bytes": str | bytes}.get(str(kind))
    if wanted is not None and not isinstance(value, wanted):
        raise ConfigurationError(
            f"option 'socket_options': {known.name} needs "
            f"{'an int' if wanted is int else 'a str or bytes'}, got {value!r}"
        )
    return value


def endpoints_of(key: str, value: Any) -> list[str]:
    """One endpoint or a list of them, each checked for form."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigurationError(f"option {key!r}: expected an endpoint or a list, got {value!r}")
    for endpoint in items:
        match = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
        if match is None:
            raise ConfigurationError(
                f"option {key!r}: malformed endpoint {endpoint!r}; "
                "expected tcp://host:port, ipc://path or inproc://name"
            )
        if endpoint.startswith("tcp://"):
            address = _TCP_ADDRESS.match(match["address"])
            if address is None:
                raise ConfigurationError(
                    f"option {key!r}: malformed endpoint {endpoint!r}; tcp needs host:port"
                )
            # libzmq takes the port modulo 65536: tcp://host:99999 would listen on 34463.
            if address[2] != "*" and not 0 < int(address[2]) <= 65535:
                raise ConfigurationError(
                    f"option {key!r}: port {address[2]} of {endpoint!r} is not in 1-65535"
                )
    return list(items)


def subscriptions_of(value: Any, socket_type: int) -> list[str | bytes]:
    """The ``subscribe`` prefixes: one or a list; a SUB socket without any gets every event."""
    if value is None:
        return [""] if socket_type == zmq.SUB else []
    prefixes = [value] if isinstance(value, str | bytes) else value
    if not isinstance(prefixes, list | tuple) or not all(
        isinstance(prefix, str | bytes) for prefix in prefixes
    ):
        raise ConfigurationError(
            f"option 'subscribe': expected an event-name prefix or a list of them, got {value!r}"
        )
    if prefixes and socket_type not in (zmq.SUB, zmq.XSUB):
        raise ConfigurationError(
            f"option 'subscribe': only SUB sockets subscribe, this one is "
            f"{zmq.SocketType(socket_type).name}"
        )
    return list(prefixes)


def _ipc_path(endpoint: str) -> str | None:
    return endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else None


# Contexts: a persistent one per thread count is shared by the whole process.
_persistent: dict[int, zmq.Context[Any]] = {}
_persistent_lock = threading.Lock()


def _context(threads: int, persistent: bool) -> zmq.Context[Any]:
    if not persistent:
        return zmq.Context(io_threads=threads)
    with _persistent_lock:
        context = _persistent.get(threads)
        if context is None or context.closed:
            context = _persistent[threads] = zmq.Context(io_threads=threads)
        return context


class ZmqTransport(Transport):
    """ZeroMQ sockets: every socket type, over tcp://, ipc:// and inproc://."""

    name = "zmq"
    supports_async = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "threads": 1,
        "is_persistent": False,
        "socket_type": "DEALER",
        "socket_options": {"LINGER": 2000, "SNDTIMEO": 2000, "RCVTIMEO": 2000},
        "bind": [],
        "connect": [],
        "subscribe": None,
        "ipc_mode": 0o600,
        "flush_on_close": True,
    }

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = dict(options)
        threads = checked["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ConfigurationError(f"option 'threads': expected an int >= 1, got {threads!r}")
        checked["socket_type"] = socket_type_of(checked["socket_type"])
        socket_options = checked["socket_options"]
        if not isinstance(socket_options, Mapping):
            raise ConfigurationError(
                f"option 'socket_options': expected a mapping, got {socket_options!r}"
            )
        checked["socket_options"] = {
            option: socket_option_value(option, v)
            for option, v in ((socket_option_of(k), v) for k, v in socket_options.items())
        }
        checked["bind"] = endpoints_of("bind", checked["bind"])
        checked["connect"] = endpoints_of("connect", checked["connect"])
        checked["subscribe"] = subscriptions_of(checked["subscribe"], checked["socket_type"])
        mode = checked["ipc_mode"]
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o777:
            raise ConfigurationError(f"option 'ipc_mode': expected a file mode, got {mode!r}")
        return checked

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        return self._open(EventSocket, options, dispatcher)

    def open_async_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        from ..aio import AsyncEventSocket  # asyncio loaded only by those who use it

        return self._open(AsyncEventSocket, options, dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> Any:
        from ..aio import ZmqAsyncPoller

        return ZmqAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> None:
        if options["flush_on_close"] and socket.has_sent and socket.type in _REPLY_PATH:
            linger = int(socket.get(zmq.LINGER))
            await socket.flush(linger, peers=max(1, len(options["connect"])))
        context = socket.context
        socket.close()
        if not options["is_persistent"]:
            # term() waits for queued sends (up to LINGER): not on the loop's thread.
            import asyncio

            await asyncio.to_thread(context.term)

    def _open(self, cls: type[Any], options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        context = _context(options["threads"], options["is_persistent"])
        socket = cls(
            context,
            options["socket_type"],
            serializer=options["serializer"],
            confirmed=options["confirmed"],
            dispatcher=dispatcher,
            accept=options["accept"],
            schemas=options["schemas"],
        )
        step = "set its options"  # what the error names: one endpoint, not every option
        try:
            for option, value in options["socket_options"].items():
                socket.set(option, value.encode() if isinstance(value, str) else value)
            for prefix in options["subscribe"]:
                socket.set(zmq.SUBSCRIBE, prefix.encode() if isinstance(prefix, str) else prefix)
            for endpoint in options["bind"]:
                step = f"bind {endpoint}"
                socket.bind(endpoint)
                # The bound path, not the given one: ipc://* makes up a file name;
                # an abstract socket (ipc://@name) has no file to protect.
                path = _ipc_path(socket.get(zmq.LAST_ENDPOINT).decode())
                if path is not None and not path.startswith("@"):
                    os.chmod(path, options["ipc_mode"])
            for endpoint in options["connect"]:
                step = f"connect {endpoint}"
                socket.connect(endpoint)
        except (zmq.ZMQError, OSError) as exc:
            socket.close(linger=0)
            if not options["is_persistent"]:
                context.term()
            raise ConfigurationError(f"cannot {step}: {exc}") from exc
        return socket

    def poller(self, sockets: Sequence[Any], wakeup_fd: int | None) -> Callable[[int], list[Any]]:
        poller = zmq.Poller()
        for socket in sockets:
            poller.register(socket, zmq.POLLIN)
        if wakeup_fd is not None:
            poller.register(wakeup_fd, zmq.POLLIN)

        def poll(timeout_ms: int) -> list[Any]:
            ready = poller.poll(None if timeout_ms < 0 else timeout_ms)
            return [socket for socket, _ in ready if socket != wakeup_fd]

        return poll

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> None:
        if options["flush_on_close"] and socket.has_sent and socket.type in _REPLY_PATH:
            linger = int(socket.get(zmq.LINGER))
            socket.flush(linger, peers=max(1, len(options["connect"])))
        context = socket.context
        socket.close()
        if not options["is_persistent"]:
            context.term()


@hookimpl
def register_transports(register: Any) -> None:
    register(ZmqTransport)


__all__ = ["SOCKET_TYPES", "EventSocket", "Message", "ZmqTransport"]
