"""The built-in ``memory`` transport: events between threads and tasks of one process.

Written against the transport contract only (:mod:`zeroevents_core.transports`),
it is what tests and the pytest plugin use instead of sockets, and the proof that
the core needs nothing of ZeroMQ. Endpoints are names, ``memory://orders``::

    service.listen(EventListener({"transport": "memory", "bind": "memory://orders"}))
    events.listen("orders.*", EventListener({"transport": "memory", "connect": "memory://orders"}))

Events go through the real codec (:class:`~.codec.EventCodec`): they are encoded to
frames and decoded again, so serializer errors, the limits ``max_name_bytes`` and
``max_frames``, contracts and accept lists behave as on ZeroMQ.

Behaviour, as a ZeroMQ DEALER pair would have it:

- ``bind``: a name, or a list of names, that this socket receives on. A name is
  bound by one socket at a time in the process: binding it twice is a
  :class:`~zeroevents_core.ConfigurationError` naming it. Closing the socket frees it.
- ``connect``: names to send to. Connecting to a name nobody binds is not an error:
  a push waits for the bind (as ZeroMQ waits for the peer), ``send_timeout_ms`` at
  most, then fires ``zeroevents.push.error``. Many sockets may connect to one
  name (fan-in); pushes on a socket connected to several names go round-robin.
- A socket that binds pushes round-robin to the sockets connected to its names;
  a push with ``reply_to`` (a received ``Message.reply_to``) goes to that sender:
  that is how confirmations find their way back, so confirmed mode works.
- Every socket has one bounded queue of received messages (``max_queued``). A push
  that finds it full waits ``send_timeout_ms`` for room, then fires
  ``zeroevents.push.error``: a queue never grows without bound.
- ``flush(timeout_ms)`` waits until the receivers have taken every event this
  socket sent (its confirmations are not waited for: nobody may read a late one).
  Closing a socket that sent something flushes first
  (``flush_on_close``, ``flush_timeout_ms``), then logs and returns how many of
  its events were not taken (they stay queued for a receiver still running; a
  receiver that closes drops what it had not taken and tells each sender).
- A received message (what ``recv_ready`` returns, what ``zeroevents.pull.error``
  listeners get) is a list of frames with a ``reply_to`` attribute;
  :meth:`MemoryEventSocket.send_frames` puts raw frames on the link, unchecked,
  for tests that need a peer sending garbage.
- Pollers wake on signals through ``signal_fd``: the write end of the pipe their
  ``poll`` waits on, for ``signal.set_wakeup_fd``; ``wake()`` writes to it too, from
  any thread or from a signal handler.

``MemoryTransport.in_process`` is True: what runs in two processes (the demo)
leaves it out.

Thread- and asyncio-safe: a socket may push from several threads at once (one lock
per socket, held to the confirmation in confirmed mode); the asyncio socket never
blocks the event loop (its waits are futures woken from whichever thread changed
the queue). Receiving stays on one thread, or one task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import ConfigurationError
from ...hookspecs import hookimpl
from .. import Transport
from ..codec import DEFAULT_MAX_FRAMES, DEFAULT_MAX_NAME_BYTES
from ..reliable import DELIVERY_DEFAULTS, check_delivery_options
from ._links import SCHEME, Frames
from ._poller import MemoryAsyncPoller, MemoryPoller
from ._socket import MemoryAsyncEventSocket, MemoryEventSocket

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher

_ENDPOINT = re.compile(r"^memory://(?P<name>\S+)$")


def _names_of(key: str, value: Any) -> list[str]:
    """The names of one ``memory://NAME`` endpoint or a list of them."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigurationError(f"option {key!r}: expected an endpoint or a list, got {value!r}")
    names = []
    for endpoint in items:
        match = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
        if match is None:
            raise ConfigurationError(
                f"option {key!r}: malformed endpoint {endpoint!r}; expected memory://NAME"
            )
        names.append(match["name"])
    return names


def _milliseconds(key: str, value: Any, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigurationError(f"option {key!r}: expected an int >= {least}, got {value!r}")
    return value


class MemoryTransport(Transport):
    """In-process links between threads and tasks, by name (``memory://NAME``)."""

    name = "memory"
    supports_sync = True
    supports_async = True
    # Within one process only: what runs two (the demo) leaves it out.
    in_process: ClassVar[bool] = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "bind": [],
        "connect": [],
        "max_queued": 1000,
        "send_timeout_ms": 2000,
        "receive_timeout_ms": 2000,
        "flush_on_close": True,
        "flush_timeout_ms": 2000,
        "max_name_bytes": DEFAULT_MAX_NAME_BYTES,
        "max_frames": DEFAULT_MAX_FRAMES,
        **DELIVERY_DEFAULTS,
    }

    @classmethod
    def describe(cls) -> str:
        return "in-process, named endpoints memory://NAME, blocking and asyncio"

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = dict(options)
        for key in ("max_queued", "max_name_bytes", "max_frames"):
            _milliseconds(key, checked[key], 1)
        for key in ("send_timeout_ms", "receive_timeout_ms"):
            _milliseconds(key, checked[key], -1)
        _milliseconds("flush_timeout_ms", checked["flush_timeout_ms"], 0)
        flush_on_close = checked["flush_on_close"]
        if not isinstance(flush_on_close, bool):
            raise ConfigurationError(
                f"option 'flush_on_close': expected true or false, got {flush_on_close!r}"
            )
        # Every memory socket has a way back: its inbox.
        check_delivery_options(checked, "memory", True, "every memory socket")
        checked["bind"] = [SCHEME + n for n in _names_of("bind", checked["bind"])]
        checked["connect"] = [SCHEME + n for n in _names_of("connect", checked["connect"])]
        if not checked["bind"] and not checked["connect"]:
            raise ConfigurationError(
                "options 'bind' and 'connect' are both empty: give a name to bind "
                "(a service, usually) or to connect to, e.g. {'connect': 'memory://orders'}"
            )
        return checked

    def where(self, options: Mapping[str, Any]) -> str:
        return ", ".join([*options["bind"], *options["connect"]])

    def dead_letter_options(self, value: Any) -> Mapping[str, Any] | str:
        """An endpoint (connected to), a connection name, or a dict of options."""
        if isinstance(value, str):
            return {"transport": self.name, "connect": value} if "://" in value else value
        if isinstance(value, Mapping):
            return {"transport": self.name, **value}
        raise ConfigurationError(
            f"option 'dead_letter': expected an endpoint, a connection name or options, "
            f"got {value!r}"
        )

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> MemoryEventSocket:
        return MemoryEventSocket(_names(options), dispatcher)

    def poller(self, sockets: Sequence[Any]) -> MemoryPoller:
        return MemoryPoller(sockets)

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        flush = options["flush_timeout_ms"] if options["flush_on_close"] else None
        return int(socket.close(flush))

    def open_async_socket(
        self, options: Mapping[str, Any], dispatcher: Dispatcher
    ) -> MemoryAsyncEventSocket:
        return MemoryAsyncEventSocket(_names(options), dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> MemoryAsyncPoller:
        return MemoryAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        flush = options["flush_timeout_ms"] if options["flush_on_close"] else None
        return int(await socket.close(flush))


def _names(options: Mapping[str, Any]) -> dict[str, Any]:
    # The sockets keep names; the options keep endpoints, as the user wrote them.
    return {
        **options,
        "bind": _names_of("bind", options["bind"]),
        "connect": _names_of("connect", options["connect"]),
    }


@hookimpl
def register_transports(register: Any) -> None:
    register(MemoryTransport)


__all__ = [
    "Frames",
    "MemoryAsyncEventSocket",
    "MemoryAsyncPoller",
    "MemoryEventSocket",
    "MemoryPoller",
    "MemoryTransport",
]
