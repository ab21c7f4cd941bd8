"""Which peers a socket's ZeroMQ handshakes reached, as a socket monitor tells.

libzmq never pairs some socket types (DEALER with PULL, PUSH with DEALER): the
handshake fails, the connection is closed, and the sender's messages wait for ever
in a queue that nothing reads, while its sends succeed. A socket monitor sees each
handshake; a thread reads it, so that a wrong pairing is logged within
milliseconds, whatever the traffic, and the socket can refuse further pushes
(``zeroevents.push.error``). The same record counts the peers that are up, which
the closing flush barrier needs (:mod:`._barrier`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import socket as sockets
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

log = logging.getLogger("zeroevents_core.transports")

# The peer types libzmq accepts for each socket type (ZMTP 3.0 socket-type rules).
PAIRS_WITH: dict[int, tuple[str, ...]] = {
    zmq.PAIR: ("PAIR",),
    zmq.PUB: ("SUB", "XSUB"),
    zmq.SUB: ("PUB", "XPUB"),
    zmq.XPUB: ("SUB", "XSUB"),
    zmq.XSUB: ("PUB", "XPUB"),
    zmq.REQ: ("REP", "ROUTER"),
    zmq.REP: ("REQ", "DEALER"),
    zmq.DEALER: ("DEALER", "ROUTER", "REP"),
    zmq.ROUTER: ("DEALER", "ROUTER", "REQ"),
    zmq.PULL: ("PUSH",),
    zmq.PUSH: ("PULL",),
}

_OPENED = (zmq.EVENT_CONNECTED, zmq.EVENT_ACCEPTED)
_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
)
# A connection that ended during its handshake without a reason from the peer.
_DROPPED = (zmq.EVENT_DISCONNECTED, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
WATCHED = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_ACCEPTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_MONITOR_STOPPED
)
for _event in _FAILED:
    WATCHED |= _event
# How long the thread may take to stop once the monitor is disabled.
STOP_TIMEOUT = 1.0
# How often (s) the monitor's thread looks at its socket without being woken.
LOOK_AGAIN = 1.0
# How long the probe that names a wrong peer's socket type waits for its greeting.
PROBE_TIMEOUT = 0.5
_names = itertools.count()
# A ZMTP 3.0 greeting: signature, version 3.0, the NULL mechanism, as-server 0, filler.
GREETING = b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + bytes(32)


def type_name(socket_type: int) -> str:
    return zmq.SocketType(socket_type).name


class Handshakes:
    """The handshakes of one socket: started with the socket, before it binds or
    connects, read by a daemon thread, ended by :meth:`close` before the socket closes.

    ``connects`` are the endpoints it connects to (where the peer's type can be read,
    when ``probe``: not under CURVE).
    ``live`` counts the connections whose handshake succeeded and that are still up;
    ``failures`` maps an endpoint to the message of its last failed handshake (a
    later success on it clears it). ``on_failure`` callbacks get each new message,
    in the monitor's thread.
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        socket_type: int,
        connects: Iterable[str] = (),
        probe: bool = True,
    ) -> None:
        self.socket_type = socket_type
        self.connects = frozenset(connects)
        self.probe = probe
        self.live = 0
        self.succeeded: set[str] = set()
        self.failures: dict[str, str] = {}
        self.on_failure: list[Callable[[str], None]] = []
        self._pending: dict[int, str] = {}  # descriptor -> endpoint, handshake under way
        self._up: set[int] = set()
        self._changed = threading.Condition()
        self._socket = socket
        address = f"inproc://zeroevents-monitor-{next(_names)}-{id(socket):x}"
        socket.monitor(address, WATCHED)
        # A plain socket, even for an asyncio one: only the thread uses it.
        self._monitor: zmq.Socket[bytes] = zmq.Socket(socket.context, zmq.PAIR)
        self._monitor.connect(address)
        self._thread = threading.Thread(
            target=self._run, name=f"zeroevents monitor {address}", daemon=True
        )
        self._thread.start()

    def blocked(self) -> bool:
        """Whether an endpoint refused this socket's type and never accepted it:
        what is sent there is never delivered."""
        # list(): one step under the GIL, while the thread may add a failure.
        return any(endpoint not in self.succeeded for endpoint in list(self.failures))

    def first_failure(self) -> str | None:
        """The message of a failed handshake, if one failed (and none succeeded since)."""
        messages = list(self.failures.values())
        return messages[0] if messages else None

    def wait(self, endpoints: Iterable[str], deadline: float) -> None:
        """Wait, until ``deadline`` (``time.monotonic()``) at most, until each of
        ``endpoints`` (connected ones) had a handshake, or, without any, until one
        peer did; a failure ends the wait."""
        wanted = set(endpoints)
        with self._changed:
            while not self.failures and (
                not wanted <= self.succeeded if wanted else not self.succeeded
            ):
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    return

    def close(self) -> None:
        """Stop the monitor and its thread (before the socket closes)."""
        with contextlib.suppress(zmq.ZMQError):
            self._socket.disable_monitor()
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():  # the stop event was lost: never leave the context held
            log.debug("socket monitor thread did not stop within %s s", STOP_TIMEOUT)

    def _run(self) -> None:
        # Waits in select() on the monitor's descriptor: a blocking pyzmq recv would
        # wake up to check for signals and take the GIL from the sending thread.
        monitor = self._monitor
        descriptor = int(monitor.get(zmq.FD))
        try:
            while True:
                while int(monitor.get(zmq.EVENTS)) & zmq.POLLIN:
                    event = parse_monitor_message(monitor.recv_multipart(zmq.NOBLOCK))
                    if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                        return
                    with self._changed:
                        self._note(event["event"], event["value"], event["endpoint"].decode())
                        self._changed.notify_all()
                # Edge-triggered: look again now and then, in case an edge was missed.
                select.select([descriptor], [], [], LOOK_AGAIN)
        except zmq.ZMQError:
            return  # the context was destroyed under the socket
        finally:
            monitor.close(linger=0)

    def _note(self, kind: int, value: int, endpoint: str) -> None:
        if kind in _OPENED:
            self._pending[value] = endpoint
        elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._up.add(self._take_pending(endpoint))
            self.live += 1
            self.succeeded.add(endpoint)
            self.failures.pop(endpoint, None)
        elif kind in _FAILED:
            self._take_pending(endpoint)
            self._failed(endpoint, kind, value)
        elif kind == zmq.EVENT_DISCONNECTED:
            if self._pending.pop(value, None) is not None:
                # Closed during the handshake: the peer refused this socket's type.
                self._failed(endpoint, kind, 0)
            elif value in self._up:
                self._up.discard(value)
                self.live -= 1

    def _take_pending(self, endpoint: str) -> int:
        # Handshake events carry no descriptor: take the oldest on that endpoint.
        for descriptor, where in self._pending.items():
            if where == endpoint:
                del self._pending[descriptor]
                return descriptor
        return -1

    def _failed(self, endpoint: str, kind: int, value: int) -> None:
        if endpoint in self.failures:
            return  # libzmq retries: say it once per endpoint
        where = "at" if endpoint in self.connects else "connected to"
        if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            # A server's ZAP handler logs its refusals; a client has only this to say it.
            message = (
                f"the CURVE handshake with a peer {where} {endpoint} was refused "
                f"(ZAP status {value}): this key is not allowed there; nothing sent there "
                "is delivered"
            )
            self._record(endpoint, message, logging.ERROR if where == "at" else logging.DEBUG)
            return
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            message = (
                f"the ZeroMQ handshake with a peer {where} {endpoint} failed: the two ends "
                "use different security mechanisms (CURVE on one end only); nothing sent "
                "there is delivered"
            )
            self._record(endpoint, message, logging.ERROR)
            return
        ours = type_name(self.socket_type)
        # Only where this socket connected (probing its own bound endpoint would be
        # pointless), and not under CURVE (the probe speaks NULL).
        probe = self.probe and endpoint in self.connects
        peer = peer_socket_type(endpoint) if probe else None
        if kind in _DROPPED and probe and self._went_away(endpoint, peer):
            log.info(
                "the peer at %s closed the connection during the ZeroMQ handshake "
                "(it went away or restarted): reconnecting",
                endpoint,
            )
            return
        if peer is not None and peer not in PAIRS_WITH[self.socket_type]:
            what = f"its socket type {peer} does not pair with this {ours} socket"
        elif self.probe:
            what = f"its socket type does not pair with this {ours} socket, or it is not ZeroMQ"
        elif endpoint in self.connects:
            what = (
                "the server there does not hold the secret key of 'server_key' (or its "
                f"socket type does not pair with this {ours} socket)"
            )
        else:
            what = f"its socket type does not pair with this {ours} socket, or its CURVE keys"
        message = (
            f"the ZeroMQ handshake with a peer {where} {endpoint} failed: {what} "
            f"({ours} pairs only with {' or '.join(PAIRS_WITH[self.socket_type])}); "
            "nothing sent there is delivered"
        )
        self._record(endpoint, message, logging.ERROR)

    def _went_away(self, endpoint: str, peer: str | None) -> bool:
        """Whether a connection closed during its handshake was a peer going away (killed,
        closed, restarted: nothing listens there now, or what does pairs with this
        socket), not one refusing this socket's type; libzmq reconnects by itself."""
        if peer is None:
            return peer_gone(endpoint)
        return peer in PAIRS_WITH[self.socket_type]

    def _record(self, endpoint: str, message: str, level: int) -> None:
        self.failures[endpoint] = message
        log.log(level, "%s", message)
        for callback in list(self.on_failure):
            callback(message)


def _dial(endpoint: str, timeout: float) -> sockets.socket | None:
    """A plain connection to the tcp or ipc ``endpoint`` (None for other transports);
    OSError when it cannot be made."""
    if endpoint.startswith("ipc://"):
        conn = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        address: Any = endpoint[len("ipc://") :]
    elif endpoint.startswith("tcp://"):
        host, _, port = endpoint[len("tcp://") :].rpartition(":")
        family = sockets.AF_INET6 if host.startswith("[") else sockets.AF_INET
        conn = sockets.socket(family, sockets.SOCK_STREAM)
        address = (host.strip("[]"), int(port))
    else:
        return None
    try:
        conn.settimeout(timeout)
        conn.connect(address)
    except BaseException:
        conn.close()
        raise
    return conn


def peer_socket_type(endpoint: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """The socket type a ZeroMQ peer at ``endpoint`` (tcp or ipc) announces, read from
    its ZMTP 3 greeting and READY command; None when it cannot be read."""
    try:
        conn = _dial(endpoint, timeout)
        if conn is None:
            return None
        with conn:
            conn.sendall(GREETING)
            data = b""
            while len(data) < 64 + 2:
                chunk = conn.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return _ready_socket_type(conn, data[64:])
    except (OSError, ValueError, struct.error):
        return None


def peer_gone(endpoint: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether nothing listens at the tcp or ipc ``endpoint`` any more (refused, or no
    socket file): a peer that died or closed, not one that refused a handshake."""
    try:
        conn = _dial(endpoint, timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except (OSError, ValueError):
        return False
    if conn is not None:
        conn.close()
    return False


def _ready_socket_type(conn: sockets.socket, data: bytes) -> str | None:
    flags = data[0]
    header = 9 if flags & 0x02 else 2
    for _ in range(8):  # a READY command is a few dozen bytes: a bounded read
        if len(data) >= header:
            size = struct.unpack(">Q", data[1:9])[0] if flags & 0x02 else data[1]
            if len(data) >= header + size:
                break
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    body = data[header:]
    if not body.startswith(b"\x05READY"):
        return None
    at = 6
    while at < len(body):
        name_size = body[at]
        name = body[at + 1 : at + 1 + name_size]
        at += 1 + name_size
        (value_size,) = struct.unpack(">I", body[at : at + 4])
        value = body[at + 4 : at + 4 + value_size]
        at += 4 + value_size
        if name.lower() == b"socket-type":
            return value.decode("ascii", "replace")
    return None
