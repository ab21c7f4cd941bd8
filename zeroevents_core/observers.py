"""Observers: what the ``register_observers`` hook gives, and when they are told.

An observer learns of each listener socket that opens and each service that
starts (:meth:`Observer.opened`), and of their end (:meth:`Observer.closed`), with
an :class:`Observed` holding the live :class:`~.stats.Stats`. It reads the counters
when it wants (an exporter at scrape time); nothing is called per event, so
observing costs the events nothing. With no observer registered, nothing is built.

An observer may also take part in each event (a tracer): :meth:`Observer.sending`
and :meth:`Observer.processing`, asked once when a socket opens or a service
starts, give a context manager factory that wraps every send (and may add
headers) or every fire of a received message. Only the sockets and services of
an observer that gives one pay for it: the others test one attribute per event.
The factory may return None for an event it has nothing to do with (a tracer
with no trace to continue): the send or fire then runs unwrapped, with no
``with`` entered, so an idle observer costs one call per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .stats import Stats

if TYPE_CHECKING:
    from .listener import BaseListener
    from .service import ServiceCore
    from .transports import Message

log = logging.getLogger(__name__)

Role = Literal["listener", "service"]

Headers = Mapping[str, str] | None
Sending = Callable[[str, Headers], AbstractContextManager[Headers] | None]
"""Wraps one send: called with the event name and the fire's headers (None: none);
entered around the push, it gives the headers to send (those, or more). None
instead of a context manager: nothing to wrap, the fire's headers are sent."""
Processing = Callable[["Message"], AbstractContextManager[Any] | None]
"""Wraps one fire of a received message (its ``headers`` carry the sender's);
None instead of a context manager: nothing to wrap."""


@dataclass(frozen=True, eq=False)
class Observed:
    """One socket or service being observed, as long as it is open.

    Compared by identity, and weakly referable: an exporter may keep them in a
    ``weakref.WeakSet`` so that an owner dropped without being closed goes too
    (the owner holds its Observed while it is open).
    """

    stats: Stats
    """The live counters, incremented in place by the socket or the service."""
    role: Role
    """``"listener"``: a listener's socket (sending side, and the socket of a
    service's listener); ``"service"``: a service (receiving side)."""
    transport: str
    """The transport's registered name (``memory``, ``nats``, the default one)."""
    where: str
    """The endpoints, as the transport shows them (``Transport.where``); a
    service's are those of its listeners, comma-separated."""
    name: str
    """The owner's class name (``EventListener``, ``EventService``, a subclass)."""
    __weakref__: Any = None


class Observer(Protocol):
    """What an observer may have; every method is optional (looked up by name)."""

    def opened(self, observed: Observed) -> None:
        """A listener's socket opened, or a service started."""

    def closed(self, observed: Observed) -> None:
        """That socket closed, or that service stopped (not called for one dropped
        unclosed: hold them weakly)."""

    def sending(self, observed: Observed) -> Sending | None:
        """For a listener's socket, as it opens: what wraps each of its sends
        (None: nothing)."""

    def processing(self, observed: Observed) -> Processing | None:
        """For a service, as it starts: what wraps each fire of a message it
        received (None: nothing)."""


def _notify(method: str, observed: Observed) -> None:
    from .plugins import get_observers

    for observer in get_observers():
        call = getattr(observer, method, None)
        if call is None:
            continue
        try:
            call(observed)
        except Exception:  # an observer's bug must not stop a socket or a service
            log.exception("observer %r failed in %s(%s %s)", observer, method, observed.role,
                          observed.where)  # fmt: skip


def _opened(stats: Stats, role: Role, transport: str, where: str, name: str) -> Observed | None:
    from .plugins import get_observers

    if not get_observers():
        return None
    observed = Observed(stats, role, transport, where, name)
    _notify("opened", observed)
    return observed


def listener_opened(listener: BaseListener, socket: Any) -> Observed | None:
    """Tell the observers that ``listener`` opened ``socket`` (one with ``stats``)."""
    stats = getattr(socket, "stats", None)
    if not isinstance(stats, Stats):  # a transport whose sockets count nothing
        return None
    transport = listener.transport
    where = transport.where(listener.options)
    return _opened(stats, "listener", transport.name, where, type(listener).__name__)


def service_started(service: ServiceCore[Any]) -> Observed | None:
    """Tell the observers that ``service`` started receiving on its listeners."""
    listeners = service.listeners
    transport = listeners[0].transport.name if listeners else ""
    where = ", ".join(each.transport.where(each.options) for each in listeners)
    return _opened(service.stats, "service", transport, where, type(service).__name__)


def _wrappers(method: str, observed: Observed | None) -> list[Any]:
    from .plugins import get_observers

    if observed is None:
        return []
    found = []
    for observer in get_observers():
        call = getattr(observer, method, None)
        try:
            wrapper = None if call is None else call(observed)
        except Exception:  # as in _notify: the socket or service goes on, unwrapped
            log.exception("observer %r failed in %s(%s %s)", observer, method, observed.role,
                          observed.where)  # fmt: skip
            continue
        if wrapper is not None:
            found.append(wrapper)
    return found


def sending(observed: Observed | None) -> Sending | None:
    """What wraps each send of the socket ``observed`` (None: no observer does)."""
    wrappers: list[Sending] = _wrappers("sending", observed)
    if len(wrappers) < 2:
        return wrappers[0] if wrappers else None

    @contextmanager
    def nested(event: str, headers: Headers) -> Iterator[Headers]:
        with ExitStack() as stack:
            for wrapper in wrappers:  # each sees the headers the previous ones gave
                scope = wrapper(event, headers)
                if scope is not None:
                    headers = stack.enter_context(scope)
            yield headers

    return nested


def processing(observed: Observed | None) -> Processing | None:
    """What wraps each fire of the service ``observed`` (None: no observer does)."""
    wrappers: list[Processing] = _wrappers("processing", observed)
    if len(wrappers) < 2:
        return wrappers[0] if wrappers else None

    @contextmanager
    def nested(message: Message) -> Iterator[None]:
        with ExitStack() as stack:
            for wrapper in wrappers:
                scope = wrapper(message)
                if scope is not None:
                    stack.enter_context(scope)
            yield

    return nested


def closed(observed: Observed | None) -> None:
    """Tell the observers that what ``observed`` is closed (None: nothing to tell)."""
    if observed is not None:
        _notify("closed", observed)
