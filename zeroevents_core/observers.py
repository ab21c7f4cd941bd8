"""Observers: what the ``register_observers`` hook gives, and when they are told.

An observer learns of each listener socket that opens and each service that
starts (:meth:`Observer.opened`), and of their end (:meth:`Observer.closed`), with
an :class:`Observed` holding the live :class:`~.stats.Stats`. It reads the counters
when it wants (an exporter at scrape time); nothing is called per event, so
observing costs the events nothing. With no observer registered, nothing is built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .stats import Stats

if TYPE_CHECKING:
    from .listener import BaseListener
    from .service import ServiceCore

log = logging.getLogger(__name__)

Role = Literal["listener", "service"]


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


def closed(observed: Observed | None) -> None:
    """Tell the observers that what ``observed`` is closed (None: nothing to tell)."""
    if observed is not None:
        _notify("closed", observed)
