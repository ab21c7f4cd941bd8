"""The ``zmq`` transport's options: socket types, socket options, endpoints,
subscriptions, each checked when the options are given (ConfigurationError naming the key)."""

from __future__ import annotations

import re
from typing import Any

import zmq

from ...errors import ConfigurationError

SOCKET_TYPES = {
    name: int(getattr(zmq, name))
    for name in (
        "PAIR", "PUB", "SUB", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB", "REQ", "REP"
    )
}  # fmt: skip
# Lockstep sockets: each message is answered before the next, so only confirmed mode
# (each push waits for its confirmation, each receipt is confirmed) fits them.
LOCKSTEP = frozenset({int(zmq.REQ), int(zmq.REP)})
# Socket types whose peer can answer, so that a closing sender can wait for a barrier.
REPLY_PATH = frozenset({zmq.DEALER, zmq.PAIR})
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
