"""The transport contract: what the core asks of a transport, and nothing of ZeroMQ.

A transport is a small class behind :class:`Transport`, registered by name through
``hookspecs.register_transports``; the ZeroMQ one is built in::

    Transport
      name, supports_sync, supports_async, defaults, describe()
      validate_options(options) -> options      ConfigurationError naming the key
      where(options) -> str                     "ipc:///tmp/x.ipc", "memory://orders"
      dead_letter_options(value) -> options     what a 'dead_letter' option means here
      cli_options() -> [CliOption]              its own flags for `zeroevents listen/emit`
      open_socket(options, dispatcher) -> EventSocket              (supports_sync)
      poller(sockets) -> Poller
      close_socket(socket, options) -> int | None
      open_async_socket(options, dispatcher) -> AsyncEventSocket   (supports_async)
      async_poller(sockets) -> AsyncPoller
      await close_async_socket(socket, options) -> int | None

A service takes a :data:`Received` value off a socket (``recv_ready``), hands it
back to the same socket to decode (``message``), and answers through the socket
(``confirm``, ``refuse``, ``undecodable``, ``control``, ``forward``): it never
looks inside what was received, so the wire layout stays the transport's own
(most use :class:`.codec.EventCodec`). Backend exceptions never cross this
boundary: a transport maps them to the :class:`~..errors.TransportError`
subclasses (``ConnectError``, ``SendError``, ``ReceiveError``,
``TransportClosed``); a wrong option is a ``ConfigurationError``.

Two optional parts, for transports that need them:

- a socket whose class sets ``settles_after_fire = True`` gets
  ``settle(message, error)`` (awaited on asyncio) once the listeners of ``message``
  returned, ``error`` being what one of them raised or None: a broker acknowledges
  there, after the fire, never before (the nats plugin);
- ``Transport.cli_command_line()`` returns what the command line does for this
  transport beyond its flags (waiting for a receiver, a closing barrier, commands of
  its own such as ZeroMQ's ``keys``); without it the CLI uses the contract alone.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from ..errors import ConfigurationError
from ..stats import Stats

if TYPE_CHECKING:
    from ..dispatcher import Dispatcher
    from ..schemas import SchemaFailure, SchemaRegistry
    from ..security import Rights
    from ..serializers import Serializer

Received = Any
"""What a socket took off its link before decoding; opaque to the core (a list of
frames on ZeroMQ and memory, a broker message on NATS). Passed back to the same
socket's ``message()``/``undecodable()``, and to ``zeroevents.pull.error`` listeners."""


class _Fields(NamedTuple):
    event: str
    payload: list[Any]
    reply_to: Any = None


class Message(_Fields):
    """One received event.

    ``reply_to`` is opaque: whom an answer (a confirmation) goes to, on links
    where answers are routed (a ZeroMQ ROUTER peer's routing id, a NATS reply
    subject); None elsewhere. Only the socket that made the message reads it.

    ``headers`` and ``event_id`` come with links that carry them (wire v2, nats):
    the sender's headers (trace context, user headers) and the event's unique id,
    the same on each retransmission; None on wire v1, which has no room for them.
    They are given after ``reply_to`` (positionally or by name) but are not items of
    the tuple, so that ``event, payload, reply_to = message`` goes on working.
    """

    headers: Mapping[str, str] | None = None
    event_id: str | None = None

    def __new__(
        cls,
        event: str,
        payload: list[Any],
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> Message:
        message = tuple.__new__(cls, (event, payload, reply_to))
        if headers is not None:
            message.headers = headers
        if event_id is not None:
            message.event_id = event_id
        return message

    def __repr__(self) -> str:
        # "Message" whatever the subclass (a transport's, which keeps its frames).
        shown = [*zip(self._fields, self, strict=True)]
        shown += [(n, v) for n, v in (("headers", self.headers), ("event_id", self.event_id)) if v]
        return f"Message({', '.join(f'{name}={value!r}' for name, value in shown)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as a plain Message, with its headers and id.
        return Message, (*self, self.headers, self.event_id)

    @property
    def address(self) -> Any:
        """Deprecated alias of :attr:`reply_to` (the 0.x name)."""
        return self.reply_to


class Control(enum.Enum):
    """What a socket did with a message carrying a reserved (library) name."""

    HANDLED = "handled"  # library traffic, dealt with inside the socket (a hello heard)
    ANSWER = "answer"  # library traffic to answer: the service calls confirm(message)
    UNSOLICITED = "unsolicited"  # nobody asked for it: the service counts it, logs, drops


@dataclass(frozen=True)
class CliOption:
    """One command-line flag a transport adds to ``zeroevents listen`` / ``emit``.

    ``flag`` such as ``"--socket-type"``; ``key`` the option it sets; ``parse``
    turns the text into the option's value (ConfigurationError naming the flag);
    ``help`` one line; ``commands`` which commands take it; ``multiple``: may be
    repeated (values collected in a list).
    """

    flag: str
    key: str
    help: str
    parse: Callable[[str], Any] = str
    commands: tuple[str, ...] = ("listen", "emit")
    multiple: bool = False
    metavar: str | None = None


class StoredEvent(Protocol):
    """An event stored already serialized (an outbox row), as a socket of a
    ``supports_outbox`` transport sends it again: under its own number ``seq``."""

    @property
    def seq(self) -> int: ...
    @property
    def event(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str] | None: ...
    @property
    def frames(self) -> list[bytes]: ...


@runtime_checkable
class EventSocket(Protocol):
    """A blocking event socket, as a transport's ``open_socket`` makes it.

    ``push`` (and ``flush``) may be called from several threads at once;
    receiving stays on one thread.
    """

    confirmed: bool
    schemas: SchemaRegistry | None
    rights: Rights | None
    sender: str | None
    can_reply: bool

    @property
    def serializer(self) -> Serializer: ...

    stats: Stats

    def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one event. True once sent; in confirmed mode the confirming Message.
        On failure fires ``zeroevents.push.error`` (socket, event, payload, reply_to)
        and returns its listeners' first answer. ``headers`` go where the link has
        room for them (wire v2, nats), and are ignored on wire v1."""
        ...

    def pull(self) -> Any:
        """Receive one event (confirming it, checking contracts) as a Message; on a
        timeout or a contract failure, the answer of the error event's listeners."""
        ...

    def recv_ready(self) -> Received | None:
        """One waiting message, or None: never blocks."""
        ...

    def message(self, received: Received) -> Message:
        """Decode; raise DecodeError naming the frame index on the wire."""
        ...

    def confirm(self, message: Message) -> None:
        """Answer ``message`` when confirmed mode (or a flush barrier) asks for it."""
        ...

    def refuse(self, message: Message, reason: str) -> None:
        """Confirmed mode: answer ``message`` negatively (outside the sender's rights)."""
        ...

    def undecodable(self, received: Received) -> None:
        """Answer what cannot be decoded as the link's peers expect (ZeroMQ confirmed
        mode: the original's confirmation of whatever it took off the wire)."""
        ...

    def control(self, message: Message) -> Control:
        """Deal with library traffic (a reserved name), never fired; ``ANSWER`` when
        it waits for an answer that the service sends with :meth:`confirm` (so that
        the asyncio flavour awaits it: ``control`` itself never blocks)."""
        ...

    def forward(self, message: Message) -> None:
        """Send ``message`` on, as received (its name and payload), to this socket's
        peers: a dead letter. Raises TransportError when it cannot."""
        ...

    def flush(self, timeout_ms: int) -> bool:
        """Wait until what was sent is taken, ``timeout_ms`` at most; whether it was."""
        ...

    def check_incoming(
        self, message: Message, schemas: SchemaRegistry | None = None
    ) -> list[SchemaFailure]:
        """The contract failures of ``message`` (see :class:`.codec.EventCodec`)."""
        ...


@runtime_checkable
class AsyncEventSocket(Protocol):
    """The asyncio mirror of :class:`EventSocket`: the same names; ``push``,
    ``pull``, ``confirm``, ``refuse``, ``undecodable``, ``forward`` and ``flush``
    are awaitable; ``recv_ready``, ``message``, ``control`` are not (never block)."""

    confirmed: bool
    schemas: SchemaRegistry | None
    rights: Rights | None
    sender: str | None
    can_reply: bool

    stats: Stats

    @property
    def serializer(self) -> Serializer: ...

    async def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...

    async def pull(self) -> Any: ...

    def recv_ready(self) -> Received | None: ...

    def message(self, received: Received) -> Message: ...

    async def confirm(self, message: Message) -> None: ...

    async def refuse(self, message: Message, reason: str) -> None: ...

    async def undecodable(self, received: Received) -> None: ...

    def control(self, message: Message) -> Control: ...

    async def forward(self, message: Message) -> None: ...

    async def flush(self, timeout_ms: int) -> bool: ...

    def check_incoming(
        self, message: Message, schemas: SchemaRegistry | None = None
    ) -> list[SchemaFailure]: ...


@runtime_checkable
class Poller(Protocol):
    """What a blocking service waits on: made once per run by ``Transport.poller``.

    ``signal_fd``: a file descriptor the service gives to ``signal.set_wakeup_fd``
    so that a signal landing just before :meth:`poll` still wakes it (ZeroMQ: a pipe
    the poll waits on); None when the poller wakes on signals by itself.
    """

    signal_fd: int | None

    def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets that can be read, once some can or after ``timeout_ms``
        (-1: no limit); an empty list as soon as :meth:`wake` is called (a wake
        before the poll is kept for it)."""
        ...

    def wake(self) -> None:
        """Make the pending (or the next) :meth:`poll` return now; from any thread,
        and from a signal handler."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncPoller(Protocol):
    """What an asyncio service waits on: made once per run by ``Transport.async_poller``."""

    async def poll(self, timeout_ms: int) -> list[Any]:
        """As :meth:`Poller.poll`, awaited."""
        ...

    def wake(self) -> None:
        """Make the pending (or the next) :meth:`poll` return an empty list now;
        called from the event loop's thread (the service hands other threads' stops
        to the loop)."""
        ...

    def close(self) -> None: ...


# The methods each side needs, checked when a transport class is defined.
_SYNC_SIDE = ("open_socket", "poller", "close_socket")
_ASYNC_SIDE = ("open_async_socket", "async_poller", "close_async_socket")


class Transport(ABC):
    """Base class of transport plugins; see ``hookspecs.register_transports``.

    ``defaults`` are the transport's own option keys with their default values;
    the listener adds the common ones (``transport``, ``serializer``,
    ``confirmed``, ``schemas``, ``accept``, ``strict``, ``dead_letter``).

    ``supports_sync`` / ``supports_async`` say which sides it has: a class that
    declares a side implements its three methods (checked when the class is
    made), the listeners refuse a side it lacks with a ConfigurationError naming it.

    ``supports_outbox``: its sockets resume a producer (``set_up_delivery`` with a
    producer id and first number) and send :class:`StoredEvent` rows under their
    numbers, several per message (``push_serialized_many(rows, max_bytes)``: how many
    of the first went), which the ``outbox`` option needs; a listener refuses the
    option on a transport without it.
    """

    name: ClassVar[str]
    supports_sync: ClassVar[bool] = True
    supports_async: ClassVar[bool] = False
    supports_outbox: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if any(getattr(getattr(cls, n, None), "__isabstractmethod__", False) for n in dir(cls)):
            return  # an intermediate base: its concrete subclasses are checked
        sides = [(cls.supports_sync, _SYNC_SIDE), (cls.supports_async, _ASYNC_SIDE)]
        missing = [
            method
            for declared, methods in sides
            if declared
            for method in methods
            if getattr(cls, method) is getattr(Transport, method)
        ]
        if missing:
            raise TypeError(
                f"transport class {cls.__qualname__} declares "
                f"{'supports_sync' if missing[0] in _SYNC_SIDE else 'supports_async'} "
                f"but does not implement {', '.join(missing)}"
            )

    @classmethod
    def describe(cls) -> str:
        """One line for ``zeroevents plugins``: the backend's version and abilities."""
        return ""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise the transport's own options (already merged over
        ``defaults``); raise :class:`ConfigurationError` naming the key."""
        return dict(options)

    def where(self, options: Mapping[str, Any]) -> str:
        """Where a socket of these options goes, for repr and log lines."""
        return ""

    @abstractmethod
    def dead_letter_options(self, value: Any) -> Mapping[str, Any] | str:
        """Listener options for a ``dead_letter`` option value of this transport (an
        endpoint, a connection name or options); ConfigurationError otherwise."""

    @classmethod
    def cli_options(cls) -> Sequence[CliOption]:
        """The transport's own flags for ``zeroevents listen`` / ``emit``."""
        return ()

    # The blocking side (supports_sync).

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> EventSocket:
        """Open a blocking event socket, bound and connected as the options say."""
        raise self._lacks("blocking")

    def poller(self, sockets: Sequence[Any]) -> Poller:
        """A :class:`Poller` over ``sockets`` (opened by :meth:`open_socket`), made
        once per service run."""
        raise self._lacks("blocking")

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int | None:
        """Close a socket this transport opened, delivering queued sends as its options
        say; return how many events sent may not have been delivered (None: unknown)."""
        raise self._lacks("blocking")

    # The asyncio side (supports_async).

    def open_async_socket(
        self, options: Mapping[str, Any], dispatcher: Dispatcher
    ) -> AsyncEventSocket:
        """Open an asyncio event socket; error events are fired with ``until_async``."""
        raise self._lacks("asyncio")

    def async_poller(self, sockets: Sequence[Any]) -> AsyncPoller:
        """An :class:`AsyncPoller` over ``sockets`` (opened by :meth:`open_async_socket`)."""
        raise self._lacks("asyncio")

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int | None:
        """Close an asyncio socket without blocking the event loop for long (as
        :meth:`close_socket`)."""
        raise self._lacks("asyncio")

    def _lacks(self, side: str) -> ConfigurationError:
        return ConfigurationError(f"transport {self.name!r} has no {side} sockets")


__all__ = [
    "AsyncEventSocket",
    "AsyncPoller",
    "CliOption",
    "Control",
    "EventSocket",
    "Message",
    "Poller",
    "Received",
    "Transport",
]
