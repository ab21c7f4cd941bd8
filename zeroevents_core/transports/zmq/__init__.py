"""The built-in ZeroMQ transport: the ``zmq`` plugin and its event sockets.

Everything ZeroMQ is in this package: the options (:mod:`._options`), the
blocking and asyncio sockets (:mod:`._socket`, :mod:`._async_socket`), the
pollers, the routing frame and the original's quirks (:mod:`._wire`), the flush
barrier (:mod:`._barrier`), the handshake monitor (:mod:`._monitor`) and CURVE
(:mod:`._security`). pyzmq's exceptions do not leave it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import zmq

from ...errors import ConfigurationError
from ...hookspecs import hookimpl
from ...security import Rights
from .. import CliOption, Message, Transport
from ..batching import BATCH_DEFAULTS, check_batch_options
from ..codec import DEFAULT_MAX_FRAMES, DEFAULT_MAX_NAME_BYTES
from ..reliable import DELIVERY_DEFAULTS, check_delivery_options
from ._barrier import LOOK_AGAIN_MS
from ._monitor import Handshakes
from ._options import (
    LOCKSTEP,
    REPLY_PATH,
    SOCKET_TYPES,
    endpoints_of,
    socket_option_of,
    socket_option_value,
    socket_type_of,
    subscriptions_of,
)
from ._poller import ZmqPoller
from ._security import SAFE_LIBZMQ, ZapHandler, bind_private, secure, security_of
from ._socket import EventSocket
from ._wire import AT_LEAST_ONCE_LINKS, AT_LEAST_ONCE_TYPES, transport_error

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ._async_poller import ZmqAsyncPoller
    from ._async_socket import AsyncEventSocket
    from ._cli import ZmqCommandLine

log = logging.getLogger("zeroevents_core.transports")
S = TypeVar("S", bound="EventSocket | AsyncEventSocket")

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
    supports_outbox = True
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
        **DELIVERY_DEFAULTS,
        **BATCH_DEFAULTS,
    }

    @classmethod
    def cli_options(cls) -> Sequence[CliOption]:
        from ._cli import CLI_OPTIONS

        return CLI_OPTIONS

    @classmethod
    def cli_command_line(cls) -> ZmqCommandLine:
        from ._cli import ZmqCommandLine

        return ZmqCommandLine()

    @classmethod
    def describe(cls) -> str:
        curve = "CURVE available" if zmq.has("curve") else "no CURVE"
        if zmq.zmq_version_info() < SAFE_LIBZMQ:
            curve += " but refused: older than 4.3.2 (CVE-2019-13132)"
        return f"libzmq {zmq.zmq_version()}, pyzmq {zmq.pyzmq_version()}, {curve}"

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = dict(options)
        threads = checked["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ConfigurationError(f"option 'threads': expected an int >= 1, got {threads!r}")
        checked["socket_type"] = socket_type_of(checked["socket_type"])
        if checked["socket_type"] in LOCKSTEP and not checked["confirmed"]:
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
        socket_type = checked["socket_type"]
        check_delivery_options(
            checked,
            zmq.SocketType(socket_type).name,
            socket_type in AT_LEAST_ONCE_TYPES,
            AT_LEAST_ONCE_LINKS,
        )
        check_batch_options(checked, batches=True)
        if not checked["bind"] and not checked["connect"]:
            raise ConfigurationError(
                "options 'bind' and 'connect' are both empty: give an endpoint to bind "
                "(a service, usually) or to connect to, e.g. {'connect': 'tcp://127.0.0.1:5555'}"
            )
        return checked

    def where(self, options: Mapping[str, Any]) -> str:
        return ", ".join([*options["bind"], *options["connect"]])

    def dead_letter_options(self, value: Any) -> Mapping[str, Any] | str:
        """An endpoint (a PUSH socket connects to it), a connection name, or a dict of
        options (PUSH by default)."""
        if isinstance(value, str):
            return {"connect": value, "socket_type": "PUSH"} if "://" in value else value
        if isinstance(value, Mapping):
            return {"socket_type": "PUSH", **value}
        raise ConfigurationError(
            "option 'dead_letter': expected an endpoint, a connection name or options, "
            f"got {value!r}"
        )

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> EventSocket:
        return self._open(EventSocket, options, dispatcher)

    def open_async_socket(
        self, options: Mapping[str, Any], dispatcher: Dispatcher
    ) -> AsyncEventSocket:
        from ._async_socket import AsyncEventSocket  # asyncio loaded only by those who use it

        return self._open(AsyncEventSocket, options, dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> ZmqAsyncPoller:
        from ._async_poller import ZmqAsyncPoller

        return ZmqAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        try:
            return await self._close_async(socket, options)
        except zmq.ZMQError as error:
            raise transport_error(error, f"close the socket on {self.where(options)}") from None

    async def _close_async(self, socket: Any, options: Mapping[str, Any]) -> int:
        import asyncio  # asyncio loaded only by those who use it

        undelivered = 0
        given: list[Any] = []  # at-least-once: what close gives up, reported once closed
        handshakes, barrier = socket.handshakes, socket.barrier
        linger = None  # the socket's LINGER, for what its queues still hold
        if socket.outgoing is not None and socket.outgoing.window is not None:
            socket.outgoing.stop_timer()  # the settling below retransmits now
            await socket.settle(_linger(options))
            given = socket.abandon()
            undelivered = self._report_abandoned(socket, options, len(given))
            linger = 0  # LINGER is spent, as _close_blocking says
        elif barrier.sent:
            deadline = time.monotonic() + options["hello_timeout_ms"] / 1000
            if handshakes is not None:
                await asyncio.to_thread(handshakes.wait, options["connect"], deadline)
            flushed = None
            while options["flush_on_close"] and socket.type in REPLY_PATH and handshakes:
                peers = barrier.speaking(socket, handshakes.live)
                if peers:
                    flushed = await socket.flush(options["flush_timeout_ms"], peers)
                if peers or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(LOOK_AGAIN_MS / 1000)
            undelivered = self._report(socket, options, flushed)
        if handshakes is not None:
            handshakes.close()
        try:  # term() waits for queued sends (up to LINGER): not on the loop's thread.
            await asyncio.to_thread(_close, socket, options, linger)
        finally:
            await socket._give_up(given)  # closed: as _close_blocking says
        return undelivered

    def _open(self, cls: type[S], options: Mapping[str, Any], dispatcher: Dispatcher) -> S:
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
        try:
            socket.set_up_delivery(options)  # its dedup store: foreign, damaged, in use
        except BaseException:
            _close(socket, options, linger=0)
            raise
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
                where = self.where(options)
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

    def poller(self, sockets: Sequence[Any]) -> ZmqPoller:
        return ZmqPoller(sockets)

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        """Close ``socket`` behind the flush barrier where every peer speaks it; return
        how many of the events it sent may not have been delivered (logged)."""
        try:
            return self._close_blocking(socket, options)
        except zmq.ZMQError as error:
            raise transport_error(error, f"close the socket on {self.where(options)}") from None

    def _close_blocking(self, socket: Any, options: Mapping[str, Any]) -> int:
        undelivered = 0
        given: list[Any] = []  # at-least-once: what close gives up, reported once closed
        socket.stop_batching()  # what waits goes first
        barrier, handshakes = socket.barrier, socket.handshakes
        linger = None  # the socket's LINGER, for what its queues still hold
        if socket.outgoing is not None and socket.outgoing.window is not None:
            # Acknowledgements say what arrived: no barrier; LINGER to get them all.
            socket.outgoing.stop_timer()  # the settling below retransmits now
            socket.settle(_linger(options))
            given = socket.abandon()
            undelivered = self._report_abandoned(socket, options, len(given))
            # LINGER is spent: what the queues hold is given up (push.error) or stays in
            # an outbox's file; sent later, it reached a late peer as an event reported
            # undelivered, after a second wait of LINGER.
            linger = 0
        elif barrier.sent:
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
        try:
            _close(socket, options, linger)
        finally:
            # Reported once closed (and if closing fails): a peer that comes up while
            # push.error's listeners run cannot get an event they are told was not
            # delivered.
            socket._give_up(given)
        return undelivered

    def _report_abandoned(self, socket: Any, options: Mapping[str, Any], count: int) -> int:
        if count:
            log.warning(
                "closing the %s socket on %s: %d event%s not acknowledged within LINGER "
                "(%d ms), each reported by zeroevents.push.error",
                zmq.SocketType(socket.type).name,
                self.where(options),
                count,
                "s" * (count != 1),
                _linger(options),
            )
        return count

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


def _linger(options: Mapping[str, Any]) -> int:
    """The LINGER of a socket's options (ms; -1: no limit), as ZeroMQ's default."""
    return int(options["socket_options"].get(zmq.LINGER, -1))


def _close(socket: Any, options: Mapping[str, Any], linger: int | None = None) -> None:
    """Close ``socket``, then its ZAP handler's share, then a private context."""
    context = socket.context
    socket.close(linger=linger)
    if socket.incoming is not None:
        socket.incoming.close()  # its dedup store
    if socket.zap is not None:
        ZapHandler.release(context, socket.zap)
    if not options["is_persistent"]:
        context.term()


@hookimpl
def register_transports(register: Any) -> None:
    register(ZmqTransport)


def __getattr__(name: str) -> Any:
    # The asyncio socket and poller load asyncio: only for those who use them.
    if name == "AsyncEventSocket":
        from ._async_socket import AsyncEventSocket

        return AsyncEventSocket
    if name == "ZmqAsyncPoller":
        from ._async_poller import ZmqAsyncPoller

        return ZmqAsyncPoller
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SOCKET_TYPES",
    "AsyncEventSocket",
    "EventSocket",
    "Message",
    "ZmqAsyncPoller",
    "ZmqPoller",
    "ZmqTransport",
    "endpoints_of",
]
