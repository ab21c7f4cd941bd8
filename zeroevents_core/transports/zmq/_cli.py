"""What the ZeroMQ transport adds to ``zeroevents listen`` and ``emit``.

Its flags (endpoints, socket types) as :class:`CliOption`\\ s, and its part of
each command: the socket options a one-shot command wants, the wait for a
receiver's handshake, the closing flush barrier, and the ``keys`` command. The
command line itself knows none of it (it asks the transport class); this module
loads without pyzmq, so ``--help`` stays quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import CommandError, ConfigurationError, TransportError, UsageError, ZeroEventsError
from .. import CliOption

LISTEN_TYPES = ("pull", "sub", "router", "dealer", "pair")
EMIT_TYPES = ("push", "pub", "dealer", "pair")
# Socket types whose peer can answer: confirmations and the closing flush barrier.
REPLY_TYPES = ("router", "dealer", "pair")
DEFAULT_TYPE = "dealer"
PUB_SETTLE = 0.5
# After --count on a socket that can answer: how long to wait for the sender's flush.
DRAIN_MS = 500
# How long a command stays up after a wrong pairing: the peer's probe waits 0.5 s
# (PROBE_TIMEOUT of _monitor) for this socket's greeting.
PAIRING_GRACE = 0.5
# How long emit waits after sending for a receiver's hello before it takes the
# receiver for one without the flush barrier (the PHP original).
HELLO_TIMEOUT_MS = 200
# Confirmations and flush replies are small; do not let a listen's close() hang on them.
LISTEN_LINGER_MS = 1000

HELP_NOTES = {
    "listen": """
zmq sockets:
  the default socket type, dealer, is the library's and the PHP original's; a peer
  whose type does not pair with this one (a push peer for a dealer) is exit 1. A
  pull socket's receive queue is unbounded (RCVHWM 0), so that a pusher's exit loses
  nothing in flight. On a router, "address" is the sender's ZeroMQ identity.

examples:
  zeroevents listen --bind ipc:///tmp/orders.ipc
  zeroevents listen --bind tcp://127.0.0.1:5555 'orders.*' --count 1 --timeout 10
  zeroevents listen --bind tcp://*:5555 --socket-type router --confirmed --serializer msgpack
  zeroevents listen --connect tcp://10.0.0.5:5556 --socket-type sub --schemas contracts/
""",
    "emit": """
zmq delivery:
  first waits, up to --timeout, for the handshake with a receiver (not on pub): none,
  or one whose socket type does not pair with this one (a pull for a dealer), is exit 1.
  Exit 0 only once every event is sent: on push, handed to a connected receiver; on
  dealer and pair, a zeroevents receiver confirms at the end that it took every event
  (a flush barrier, negotiated: a receiver without it, such as the PHP original, is
  not sent it); with --confirmed, each event is confirmed one by one (dealer, pair).
  pub drops events until subscribers have joined: --settle waits after connecting
  (default 0.5 s on pub) and nothing confirms that a subscriber got them.

examples:
  zeroevents emit --connect ipc:///tmp/orders.ipc orders.created '{"id": 1}'
  zeroevents emit --connect tcp://127.0.0.1:5555 --confirmed ping 1 '"two"'
  zeroevents listen --bind ipc:///tmp/a.ipc --count 9 | zeroevents emit --connect ipc:///tmp/b.ipc -
""",
}


def _endpoint(value: str) -> str:
    """An endpoint another process can reach: tcp://host:port or ipc://path."""
    if value.startswith("inproc://"):
        raise ConfigurationError(
            f"{value!r}: inproc:// endpoints live inside one process; use ipc:// or tcp://"
        )
    from ._options import endpoints_of  # loaded late: the command line starts fast

    try:
        endpoints_of("endpoint", value)  # the transport's own rules, ports included
    except ConfigurationError as error:
        raise ConfigurationError(str(error).removeprefix("option 'endpoint': ")) from None
    return value


def _socket_type(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        name = value.lower()
        if name not in choices:
            listed = ", ".join(repr(choice) for choice in choices)
            raise ConfigurationError(f"invalid choice: {name!r} (choose from {listed})")
        return name.upper()

    return parse


_TYPE_HELP = "ZeroMQ socket type (default: dealer, as the library's and the original's)"

CLI_OPTIONS: Sequence[CliOption] = (
    CliOption(
        "--bind", "bind", parse=_endpoint, multiple=True, metavar="EP",
        help="bind to EP (tcp://127.0.0.1:5555, tcp://*:5555, ipc:///tmp/events.ipc); "
        "repeatable, as --connect; at least one of them",
    ),
    CliOption("--connect", "connect", "connect to EP", _endpoint, multiple=True, metavar="EP"),
    CliOption(
        "--socket-type", "socket_type", _TYPE_HELP, _socket_type(LISTEN_TYPES), ("listen",),
        metavar="{" + ",".join(LISTEN_TYPES) + "}",
    ),
    CliOption(
        "--socket-type", "socket_type", _TYPE_HELP, _socket_type(EMIT_TYPES), ("emit",),
        metavar="{" + ",".join(EMIT_TYPES) + "}",
    ),
)  # fmt: skip


def _endpoints(options: Mapping[str, Any], key: str) -> list[str]:
    value = options.get(key) or []
    return [value] if isinstance(value, str) else [str(endpoint) for endpoint in value]


def _kind(options: Mapping[str, Any]) -> str:
    return str(options.get("socket_type") or DEFAULT_TYPE).lower()


class ZmqCommandLine:
    """The ZeroMQ transport's part of ``zeroevents listen`` and ``emit``."""

    def prepare(self, command: str, options: dict[str, Any], timeout: float | None) -> None:
        """Check what argparse cannot see, and set the socket options of the command."""
        if not _endpoints(options, "bind") and not _endpoints(options, "connect"):
            raise UsageError("give at least one --bind EP or --connect EP")
        kind = _kind(options)
        if options.get("confirmed") and kind not in REPLY_TYPES:
            if command == "emit":
                raise UsageError(
                    f"--confirmed needs a socket the receiver can answer (dealer or pair), "
                    f"not {kind}"
                )
            raise UsageError(
                f"--confirmed needs a socket that can answer (router, dealer or pair), not {kind}"
            )
        tuned: dict[str, Any] = {"LINGER": LISTEN_LINGER_MS}
        if command == "listen" and kind == "pull":
            # A pusher that exits while its receiver sits at the receive high-water mark
            # loses the events in flight (libzmq issue 4660); push has no reply path for
            # a flush barrier, so the receiving queue is unbounded instead.
            tuned["RCVHWM"] = 0
        if command == "emit":
            timeout_ms = max(1, round((timeout or 0) * 1000))
            tuned = {"LINGER": timeout_ms, "SNDTIMEO": timeout_ms, "RCVTIMEO": timeout_ms}
            if kind == "push":
                # Queue only to connections that are up: a send with no receiver fails
                # after --timeout instead of waiting in a queue that close() then drops.
                # Not on dealer and pair, which the final flush barrier covers: with
                # IMMEDIATE, libzmq drops a reply not yet read when the peer disconnects
                # (a listen that ends right after answering the barrier).
                tuned["IMMEDIATE"] = 1
            # Flushed by deliver(), where the verdict is seen; close() need not do it again.
            options.setdefault("flush_on_close", False)
        given = options.get("socket_options", {})
        if isinstance(given, Mapping):  # else the transport says what is wrong with it
            options["socket_options"] = {**tuned, **given}

    def kind(self, options: Mapping[str, Any]) -> str:
        return _kind(options)

    def where(self, options: Mapping[str, Any]) -> str:
        return ", ".join([*_endpoints(options, "bind"), *_endpoints(options, "connect")])

    def open_failed(self, error: ZeroEventsError, options: Mapping[str, Any]) -> ZeroEventsError:
        """A socket that cannot bind or connect, said in the command's terms."""
        cause = error.__cause__
        if isinstance(error, TransportError) or (
            cause is not None and not isinstance(cause, ZeroEventsError)
        ):
            steps = [
                *(f"bind {e}" for e in _endpoints(options, "bind")),
                *(f"connect {e}" for e in _endpoints(options, "connect")),
            ]
            return CommandError(
                f"cannot open the {_kind(options)} socket ({', '.join(steps)}): {cause or error}"
            )
        return error

    def listening_on(self, socket: Any, options: Mapping[str, Any]) -> str:
        binds, connects = _endpoints(options, "bind"), _endpoints(options, "connect")
        if len(binds) == 1 and not connects:
            # The port a tcp://host:* bind was given.
            return bytes(socket.last_endpoint).decode()
        return self.where(options)

    def drain_ms(self, options: Mapping[str, Any]) -> int:
        """After --count: how long a listen waits for the sender's closing flush
        barrier (0: the sender cannot send one)."""
        return DRAIN_MS if _kind(options) in REPLY_TYPES else 0

    def watch_failures(self, socket: Any, on_failure: Callable[[str], None]) -> list[str]:
        """Report each peer whose socket type does not pair with this one (from the
        socket monitor's thread); return those that came before."""

        def after_a_grace(message: str) -> None:
            # The peer saw the same failure and probes this socket to name its type
            # in its own error: stay bound while it does.
            time.sleep(PAIRING_GRACE)
            on_failure(message)

        socket.handshakes.on_failure.append(after_a_grace)
        return list(socket.handshakes.failures.values())

    def settle(self, options: Mapping[str, Any]) -> float:
        """The default of emit's --settle: subscribers need time to join a pub."""
        return PUB_SETTLE if _kind(options) == "pub" else 0.0

    def await_receiver(self, socket: Any, options: Mapping[str, Any], timeout: float) -> None:
        """Wait for the handshake with a receiver: a socket type that does not pair
        (DEALER to PULL) is said here, not discovered by silence. Subscribers join
        when they like (--settle): a pub does not wait."""
        if _kind(options) == "pub":
            return
        handshakes = socket.handshakes
        handshakes.wait(_endpoints(options, "connect"), time.monotonic() + timeout)
        failure = handshakes.first_failure()
        if failure is not None:
            raise CommandError(failure)
        if not handshakes.succeeded:
            raise CommandError(f"no receiver on {self.where(options)} within {timeout:g} s")

    def failure(self, socket: Any) -> str | None:
        """Why a send failed, when a peer of the wrong socket type is the reason."""
        failure: str | None = socket.handshakes.first_failure()
        return failure

    def deliver(self, socket: Any, options: Mapping[str, Any], timeout_ms: int) -> bool | None:
        """After the last event: the flush barrier, toward receivers that speak it (the
        PHP original does not). None when there is none to wait for."""
        if _kind(options) not in REPLY_TYPES:
            return None
        flushed: bool | None = socket.negotiated_flush(
            _endpoints(options, "connect"), HELLO_TIMEOUT_MS, timeout_ms
        )
        return flushed

    def lossy_close(self, options: Mapping[str, Any]) -> bool:
        """Whether close() may still be delivering: push and pub have no barrier."""
        return _kind(options) in ("push", "pub")

    def add_commands(self, commands: Any, common: Any) -> None:
        from ._keys import add_parser

        add_parser(commands, common)

    def help_notes(self, command: str) -> str:
        return HELP_NOTES.get(command, "")
