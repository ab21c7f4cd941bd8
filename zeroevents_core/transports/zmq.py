"""The built-in ZeroMQ transport: :class:`EventSocket` and the ``zmq`` plugin.

``EventSocket`` is a ``zmq.Socket`` (every native method works) that also sends
and receives whole events. Sends go frame by frame with ``SNDMORE`` and receives
check ``RCVMORE`` frame by frame: with small frames this is several times
cheaper than ``send_multipart``/``recv_multipart``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import zmq

from ..errors import ConfigurationError, DecodeError
from ..hookspecs import hookimpl
from ..security import Rights
from ..serializers import Serializer
from . import CliOption, Message, Transport
from .codec import (
    CONFIRMED,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_NAME_BYTES,
    FLUSH,
    PULL_ERROR,
    PUSH_ERROR,
    RESERVED,
    SCHEMA_ERROR,
    EventCodec,
    is_confirmation,
)
from .zmq_barrier import LOOK_AGAIN_MS, Barrier
from .zmq_monitor import Handshakes
from .zmq_security import SAFE_LIBZMQ, ZapHandler, bind_private, secure, security_of

if TYPE_CHECKING:
    from ..dispatcher import Dispatcher
    from ..schemas import SchemaRegistry
    from .zmq_cli import ZmqCommandLine

SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)
RCVMORE = int(zmq.RCVMORE)
ROUTER = int(zmq.ROUTER)
# Socket types that can answer what they receive (confirmations, the flush barrier).
_ANSWERING = frozenset({int(zmq.DEALER), int(zmq.PAIR), ROUTER})
# The hot path calls the compiled methods directly: pyzmq's Python-level send
# wrapper (routing ids, groups) costs as much as the send itself for small frames.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get

log = logging.getLogger("zeroevents_core.transports")
# Hellos a pull() skips before it reports that no event came.
HELLOS_SKIPPED = 64


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
    can_reply: bool
    has_sent: bool = False
    barrier: Barrier
    handshakes: Handshakes | None = None  # set by the transport, which watches what it opens
    # CURVE server sockets read each message's sender (libzmq's User-Id).
    identified: bool = False
    zap: bytes | None = None

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
            # libzmq refuses a larger frame from its length header, before receiving
            # it: no frame the serializer would refuse is ever received whole.
            self.set(zmq.MAXMSGSIZE, self._serializer.max_frame_size)  # type: ignore[attr-defined]
        except BaseException:
            self.close(linger=0)  # type: ignore[attr-defined]
            raise
        self._dispatcher = dispatcher
        self.routes_replies = socket_type == ROUTER
        self.can_reply = socket_type in _ANSWERING
        self.barrier = Barrier()

    def confirm_undecodable(self, frames: Sequence[bytes]) -> list[bytes]:
        """The confirmation of a message that cannot be decoded, as the original sends
        it (it confirms every message it takes from the wire, with the name as received)."""
        address = bytes(frames[0]) if self.routes_replies else None
        names = frames[1:2] if self.routes_replies else frames[:1]
        name = bytes(names[0]).decode("utf-8", "replace") if names else ""
        reply = self.encode(CONFIRMED, [name])
        if address is not None:
            reply.insert(0, address)
        return reply

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher if self._dispatcher is not None else _default_dispatcher()

    def _identified(self, parts: list[zmq.Frame]) -> list[bytes]:
        """The frames of a message received whole as ``zmq.Frame``s on a CURVE server:
        its sender noted (libzmq's User-Id, the key's name), a new peer greeted."""
        sender = parts[-1].get("User-Id")
        self.sender = sender if isinstance(sender, str) else None
        frames = [part.bytes for part in parts]
        barrier = self.barrier
        if barrier.due or (self.routes_replies and barrier.new_peer(frames[0])):
            barrier.greet(self, frames, parts[-1])
        return frames


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
    _sending: threading.RLock

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
        # Reentrant: negotiated_flush (receiving hellos) calls flush under it.
        self._sending = threading.RLock()
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
        if self.identified:
            return self._recv_identified(flags)
        frames: list[bytes] = [_recv(self, flags)]
        while _get(self, RCVMORE):
            frames.append(_recv(self))
        return frames

    def recv_ready(self) -> list[bytes] | None:
        """The frames of one message if one is waiting, else None (never blocks)."""
        barrier = self.barrier
        try:
            if barrier.due:  # the first message after a wait: greet a zeroevents sender
                return self._recv_greeting(NOBLOCK)
            if self.routes_replies and not self.identified:
                return barrier.recv_routed(self, NOBLOCK)
            return self.recv_frames(NOBLOCK)
        except zmq.Again:
            barrier.due = True
            return None

    def _recv_identified(self, flags: int) -> list[bytes]:
        return self._identified(self.recv_multipart(flags, copy=False))

    def _recv_greeting(self, flags: int = 0) -> list[bytes]:
        # Receive one message, looking at its handshake metadata (Barrier.greet).
        if self.identified:
            self.barrier.due = True
            return self._recv_identified(flags)
        return self.barrier.recv_greeting(self, flags)

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
            handshakes = self.handshakes
            # A peer refused this socket type: what is sent there waits for ever.
            blocked = handshakes is not None and handshakes.failures and handshakes.blocked()
            if not blocked:
                try:
                    for frame in frames[:-1]:
                        _send(self, frame, SNDMORE)
                    _send(self, frames[-1])
                    self.barrier.sent += 1  # Barrier.note_sent, inlined: the hot path
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
            self.barrier.hear(reply)
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

    @_locked
    def negotiated_flush(
        self, connect: Collection[str], hello_timeout_ms: int, timeout_ms: int
    ) -> bool | None:
        """The barrier of :meth:`flush`, sent only when every peer that is up said, in
        answer to this socket's handshake, that it speaks it (``zeroevents.hello``).

        Waits for the handshakes with ``connect`` and for the hellos, up to
        ``hello_timeout_ms``, then up to ``timeout_ms`` for the confirmations. Returns
        whether they came; None when the barrier was not sent (a peer that does not
        speak it, such as the PHP original, or no peer at all, or a socket type
        without a reply path).
        """
        barrier, handshakes = self.barrier, self.handshakes
        deadline = time.monotonic() + hello_timeout_ms / 1000
        if handshakes is None or self.type not in _REPLY_PATH:
            return None
        handshakes.wait(connect, deadline)
        while True:  # bounded by the deadline
            peers = barrier.speaking(self, handshakes.live)
            left = int((deadline - time.monotonic()) * 1000)
            if peers:
                return self.flush(timeout_ms, peers)
            if left <= 0:
                return None
            self.poll(min(left, LOOK_AGAIN_MS), zmq.POLLIN)  # a hello, or look again

    def pull(self) -> Any:
        """Receive one event as a :class:`Message`, confirming it in confirmed mode.

        When nothing arrives within the receive timeout, fires
        ``zeroevents.pull.error`` (socket) and returns the first non-None response
        of its listeners; for an event that breaks the socket's contracts, the same
        with ``zeroevents.schema.error`` (event, payload, failures, address). A message
        that cannot be decoded raises :class:`DecodeError`.
        """
        for _ in range(HELLOS_SKIPPED):
            try:
                frames = self._recv_greeting()
            except zmq.Again:
                return self.dispatcher.until(PULL_ERROR, self)
            try:
                message = self.message(frames)
            except DecodeError:
                if self.confirmed:  # confirmed as the original confirms: taken from the wire
                    self.send_frames(self.confirm_undecodable(frames))
                raise
            if not self.barrier.hear(message):
                break
        else:
            return self.dispatcher.until(PULL_ERROR, self)
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
        if message.event in RESERVED:  # library traffic, never fired
            return None
        target = dispatcher if dispatcher is not None else self.dispatcher
        return target.until(message.event, *message.payload)


# Options ------------------------------------------------------------------------------

SOCKET_TYPES = {
    name: int(getattr(zmq, name))
    for name in (
        "PAIR", "PUB", "SUB", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB", "REQ", "REP"
    )
}  # fmt: skip
# Lockstep sockets: each message is answered before the next, so only confirmed mode
# (each push waits for its confirmation, each receipt is confirmed) fits them.
_LOCKSTEP = frozenset({int(zmq.REQ), int(zmq.REP)})
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
        "flush_timeout_ms": 2000,
        "hello_timeout_ms": 50,
        "max_name_bytes": DEFAULT_MAX_NAME_BYTES,
        "max_frames": DEFAULT_MAX_FRAMES,
        # ZeroMQ MAXMSGSIZE; None: the serializer's max_frame_size (16 MiB by default).
        "max_frame_bytes": None,
        "security": None,
    }

    @classmethod
    def describe(cls) -> str:
        curve = "CURVE available" if zmq.has("curve") else "no CURVE"
        if zmq.zmq_version_info() < SAFE_LIBZMQ:
            curve += " but refused: older than 4.3.2 (CVE-2019-13132)"
        return f"libzmq {zmq.zmq_version()}, pyzmq {zmq.pyzmq_version()}, {curve}"

    @classmethod
    def cli_options(cls) -> Sequence[CliOption]:
        from .zmq_cli import CLI_OPTIONS

        return CLI_OPTIONS

    @classmethod
    def cli_command_line(cls) -> ZmqCommandLine:
        from .zmq_cli import ZmqCommandLine

        return ZmqCommandLine()

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = dict(options)
        threads = checked["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ConfigurationError(f"option 'threads': expected an int >= 1, got {threads!r}")
        checked["socket_type"] = socket_type_of(checked["socket_type"])
        if checked["socket_type"] in _LOCKSTEP and not checked["confirmed"]:
            raise ConfigurationError(
                "option 'socket_type': REQ and REP answer each message before the next "
                "one, so they need 'confirmed': True (each push then waits for its "
                "confirmation, as a REQ waits for its reply); or use DEALER and ROUTER"
            )
        socket_options = checked["socket_options"]
        if not isinstance(socket_options, Mapping):
            raise ConfigurationError(
                f"option 'socket_options': expected a mapping, got {socket_options!r}"
            )
        checked["socket_options"] = {
            option: socket_option_value(option, v)
            for option, v in ((socket_option_of(k), v) for k, v in socket_options.items())
        }
        if zmq.MAXMSGSIZE in checked["socket_options"]:
            raise ConfigurationError(
                "option 'socket_options': MAXMSGSIZE is set by the option 'max_frame_bytes'"
            )
        for key in ("max_name_bytes", "max_frames", "max_frame_bytes"):
            limit = checked[key]
            if limit is None and key == "max_frame_bytes":
                continue
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ConfigurationError(f"option {key!r}: expected an int >= 1, got {limit!r}")
        checked["bind"] = endpoints_of("bind", checked["bind"])
        checked["connect"] = endpoints_of("connect", checked["connect"])
        checked["subscribe"] = subscriptions_of(checked["subscribe"], checked["socket_type"])
        for key in ("flush_timeout_ms", "hello_timeout_ms"):
            value = checked[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(
                    f"option {key!r}: expected milliseconds, an int >= 0, got {value!r}"
                )
        mode = checked["ipc_mode"]
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o777:
            raise ConfigurationError(f"option 'ipc_mode': expected a file mode, got {mode!r}")
        checked["security"] = security_of(checked["security"], "glob")
        if not checked["bind"] and not checked["connect"]:
            raise ConfigurationError(
                "options 'bind' and 'connect' are both empty: give an endpoint to bind "
                "(a service, usually) or to connect to, e.g. {'connect': 'tcp://127.0.0.1:5555'}"
            )
        return checked

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        return self._open(EventSocket, options, dispatcher)

    def open_async_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        from ..aio import AsyncEventSocket  # asyncio loaded only by those who use it

        return self._open(AsyncEventSocket, options, dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> Any:
        from ..aio import ZmqAsyncPoller

        return ZmqAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        import asyncio  # asyncio loaded only by those who use it

        undelivered = 0
        handshakes, barrier = socket.handshakes, socket.barrier
        if barrier.sent:
            deadline = time.monotonic() + options["hello_timeout_ms"] / 1000
            if handshakes is not None:
                await asyncio.to_thread(handshakes.wait, options["connect"], deadline)
            flushed = None
            while options["flush_on_close"] and socket.type in _REPLY_PATH and handshakes:
                peers = barrier.speaking(socket, handshakes.live)
                if peers:
                    flushed = await socket.flush(options["flush_timeout_ms"], peers)
                if peers or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(LOOK_AGAIN_MS / 1000)
            undelivered = self._report(socket, options, flushed)
        if handshakes is not None:
            handshakes.close()
        # term() waits for queued sends (up to LINGER): not on the loop's thread.
        await asyncio.to_thread(_close, socket, options)
        return undelivered

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
        socket.max_name_bytes = options["max_name_bytes"]
        socket.max_frames = options["max_frames"]
        step = "set its options"  # what the error names: one endpoint, not every option
        try:
            # Before the user's options, which may replace it (then no barrier). A
            # libzmq older than 4.3 has no METADATA: no barrier, as toward the original.
            with contextlib.suppress(zmq.ZMQError):
                socket.set(zmq.METADATA, socket.barrier.metadata())
            socket.handshakes = Handshakes(
                socket, options["socket_type"], options["connect"], options["security"] is None
            )
            if options["max_frame_bytes"] is not None:
                socket.set(zmq.MAXMSGSIZE, options["max_frame_bytes"])
            if options["socket_type"] == zmq.REQ:
                # A confirmation that timed out must not wedge the socket: a new
                # request may go, and a late reply to the old one is told apart.
                socket.set(zmq.REQ_RELAXED, 1)
                socket.set(zmq.REQ_CORRELATE, 1)
            for option, value in options["socket_options"].items():
                socket.set(option, value.encode() if isinstance(value, str) else value)
            for prefix in options["subscribe"]:
                socket.set(zmq.SUBSCRIBE, prefix.encode() if isinstance(prefix, str) else prefix)
            curve = options["security"]
            if curve is not None:
                step = "set up CURVE"
                where = ", ".join([*options["bind"], *options["connect"]])
                socket.zap = secure(socket, curve, where)
                socket.identified = curve.is_server
                if curve.rights is not None:
                    # Read with the patterns' own matcher: the service's dispatcher's.
                    socket.rights = Rights(
                        curve.rights.source, dispatcher.matcher.name, key="security.rights"
                    )
            for endpoint in options["bind"]:
                step = f"bind {endpoint}"
                bind_private(socket, endpoint, options["ipc_mode"])
            for endpoint in options["connect"]:
                step = f"connect {endpoint}"
                socket.connect(endpoint)
        except (zmq.ZMQError, OSError) as exc:
            if socket.handshakes is not None:
                socket.handshakes.close()
            _close(socket, options, linger=0)
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
            found = [socket for socket, _ in ready if socket != wakeup_fd]
            for socket in found:
                socket.barrier.due = True  # greet a sender that joined a busy socket
            return found

        return poll

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        """Close ``socket`` behind the flush barrier where every peer speaks it; return
        how many of the events it sent may not have been delivered (logged)."""
        undelivered = 0
        barrier, handshakes = socket.barrier, socket.handshakes
        if barrier.sent:
            if handshakes is not None:  # a sender closing at once: its handshake under way
                deadline = time.monotonic() + options["hello_timeout_ms"] / 1000
                handshakes.wait(options["connect"], deadline)
            flushed = None
            if options["flush_on_close"]:
                flushed = socket.negotiated_flush(
                    options["connect"], options["hello_timeout_ms"], options["flush_timeout_ms"]
                )
            undelivered = self._report(socket, options, flushed)
        if handshakes is not None:
            handshakes.close()
        _close(socket, options)
        return undelivered

    @staticmethod
    def _report(socket: Any, options: Mapping[str, Any], flushed: bool | None) -> int:
        """The events of a closing socket that may not have been delivered, and why (logged).
        ``flushed``: whether the barrier was confirmed; None: it was not sent."""
        handshakes = socket.handshakes
        if flushed is False:
            why = f"the flush barrier was not confirmed within {options['flush_timeout_ms']} ms"
        elif flushed or handshakes is None:
            return 0
        elif handshakes.blocked():
            why = str(handshakes.first_failure())
        elif not handshakes.succeeded:
            why = "no peer was reached"
        else:
            return 0
        where = ", ".join([*options["bind"], *options["connect"]])
        sent = int(socket.barrier.sent)
        log.warning(
            "closing the %s socket on %s: %d event%s sent may not have been delivered: %s",
            zmq.SocketType(socket.type).name,
            where,
            sent,
            "s" * (sent != 1),
            why,
        )
        return sent


def _close(socket: Any, options: Mapping[str, Any], linger: int | None = None) -> None:
    """Close ``socket``, then its ZAP handler's share, then a private context."""
    context = socket.context
    socket.close(linger=linger)
    if socket.zap is not None:
        ZapHandler.release(context, socket.zap)
    if not options["is_persistent"]:
        context.term()


@hookimpl
def register_transports(register: Any) -> None:
    register(ZmqTransport)


__all__ = ["SOCKET_TYPES", "EventSocket", "Message", "ZmqTransport"]
