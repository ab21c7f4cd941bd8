"""Transports move encoded events between processes; ``zmq`` is built in.

A transport is a small class behind :class:`Transport`: it checks its options,
opens event sockets from them, waits on many sockets at once for a service, and
closes what it opened. The wire layout (name frame, one frame per argument,
confirmations) lives once in :mod:`.codec`, shared by every socket class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..dispatcher import Dispatcher


class Message(NamedTuple):
    """One received event: its name, its positional payload, and the sender's
    address on sockets that route replies (ZeroMQ ROUTER), else None."""

    event: str
    payload: list[Any]
    address: bytes | None = None


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
    parse: Any = str  # Callable[[str], Any]
    commands: tuple[str, ...] = ("listen", "emit")
    multiple: bool = False
    metavar: str | None = None


class AsyncPoller(Protocol):
    """What an asyncio service waits on: made by ``Transport.async_poller``."""

    async def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets that can be read, once some can or after ``timeout_ms``
        (-1: no limit), or an empty list as soon as :meth:`wake` is called."""
        ...

    def wake(self) -> None:
        """Make the pending (or the next) :meth:`poll` return an empty list now;
        called from the event loop's thread (a stop, a signal handler)."""
        ...


class Transport(ABC):
    """Base class of transport plugins; see ``hookspecs.register_transports``.

    ``defaults`` are the transport's own option keys with their default values;
    the listener adds the common ones (``transport``, ``serializer``,
    ``confirmed``, ``schemas``, ``accept``).
    """

    name: ClassVar[str]
    supports_sync: ClassVar[bool] = True
    supports_async: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def describe(cls) -> str:
        """One line for ``zeroevents plugins``: the backend's version and abilities."""
        return ""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise the transport's own options (already merged over
        ``defaults``); raise :class:`ConfigurationError` naming the key."""
        return dict(options)

    @abstractmethod
    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        """Open a blocking event socket, bound and connected as the options say."""

    # The asyncio side: a transport with ``supports_async = True`` implements the
    # three methods below; the others raise ConfigurationError naming the transport.

    def open_async_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> Any:
        """Open an asyncio event socket (transports with ``supports_async``).

        Besides ``message(frames)``, ``check_incoming``, ``confirmed`` and ``schemas``
        from :class:`~.codec.EventCodec`, it offers ``await push(event, payload,
        address)``, ``await pull()``, ``await confirm(message)``, ``recv_ready()``
        (the frames of one waiting message or None, never blocking) and ``send_frames``.
        Error events are fired with ``until_async`` on ``dispatcher``.
        """
        raise ConfigurationError(f"transport {self.name!r} has no asyncio sockets")

    def async_poller(self, sockets: Sequence[Any]) -> AsyncPoller:
        """Prepare, once per asyncio service run, an :class:`AsyncPoller` over
        ``sockets`` (opened by :meth:`open_async_socket`)."""
        raise ConfigurationError(f"transport {self.name!r} has no asyncio sockets")

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int | None:
        """Close an asyncio socket, flushing queued sends as its options say, without
        blocking the event loop for long (default: :meth:`close_socket`)."""
        return self.close_socket(socket, options)

    @abstractmethod
    def poller(self, sockets: Sequence[Any], wakeup_fd: int | None) -> Callable[[int], list[Any]]:
        """Prepare, once per service run, a function ``poll(timeout_ms)`` that waits
        until some of ``sockets`` can be read, ``timeout_ms`` at most (-1: no limit)
        or until ``wakeup_fd`` (a file descriptor) becomes readable, and returns the
        ready sockets."""

    @abstractmethod
    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int | None:
        """Close a socket this transport opened, flushing queued sends as its options say;
        return how many events sent may not have been delivered (None: unknown)."""
