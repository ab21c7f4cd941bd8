"""The plugin contract: every hook a zeroevents plugin may implement.

A plugin is a module (or any object) with functions marked ``@hookimpl`` whose
names are those below. The core's own serializers, matchers and the ZeroMQ
transport are plugins of exactly this kind (see ``plugins.DEFAULT_PLUGINS``);
third-party plugins are found through the ``zeroevents`` entry-point group::

    [project.entry-points.zeroevents]
    msgpack = "zeroevents_msgpack"

Each hook receives a ``register`` callback and calls it once per thing it
provides. The core owns the names: two plugins registering one name is an error
naming both, never a silent override.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .matchers import Matcher
    from .observers import Observer
    from .serializers import Serializer
    from .transports import Transport

PROJECT_NAME = "zeroevents"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_serializers(register: Callable[[type[Serializer]], Any]) -> None:
    """Register serializer classes.

    Called once, the first time any serializer is looked up, with a ``register``
    callback. Call ``register(cls)`` for each :class:`~zeroevents_core.serializers.Serializer`
    subclass the plugin provides. The class attribute ``name`` is the name users
    give (``serializer="msgpack"``); ``content_type`` describes the frames.

    A serializer turns each positional payload argument into one frame
    (``serialize(payload) -> list[bytes]``) and back (``unserialize(frames) -> list``).
    It must be stateless once built, and on hostile bytes it must raise only
    :class:`~zeroevents_core.DecodeError`. Override ``dumps``/``loads`` for one
    value; the base class does frames, limits and error wrapping. Optional:
    ``unserialize_many(payloads) -> list`` decodes the payloads of a batch's events at
    once (default: ``unserialize`` of each); it raises DecodeError when any is refused.
    """


@hookspec
def register_matchers(register: Callable[[type[Matcher]], Any]) -> None:
    """Register event-name matcher classes.

    Called once, the first time any matcher is looked up, with a ``register``
    callback. Call ``register(cls)`` for each :class:`~zeroevents_core.matchers.Matcher`
    subclass; its ``name`` is what ``Dispatcher(matcher=...)`` takes.

    A dispatcher makes one matcher instance and keeps it: ``add(pattern)`` and
    ``remove(pattern)`` when listeners come and go, and ``match(name)``, which
    returns the registered patterns (exact names included) that match an event
    name. ``match`` must not scan every pattern: index them. The dispatcher
    caches its answers per name and drops the cache on every add or remove.
    """


@hookspec
def register_transports(register: Callable[[type[Transport]], Any]) -> None:
    """Register transport classes.

    Called once, the first time any transport is looked up, with a ``register``
    callback. Call ``register(cls)`` for each :class:`~zeroevents_core.transports.Transport`
    subclass; its ``name`` is what the ``transport`` option takes (the built-in one:
    ``plugins.DEFAULT_TRANSPORT``).

    A transport checks its options when a listener is configured
    (``validate_options``), opens sockets from them, waits on many of them at
    once for a service, and closes what it opened; the whole contract, typed, is
    in :mod:`zeroevents_core.transports`. It has two sides; a transport that has
    only one says so with ``supports_sync`` / ``supports_async`` (class
    attributes), and the listeners refuse the other naming it:

    - blocking: ``open_socket`` (an
      :class:`~zeroevents_core.transports.EventSocket`), ``poller(sockets)`` (a
      :class:`~zeroevents_core.transports.Poller`: ``poll``, ``wake``,
      ``signal_fd``, ``close``) and ``close_socket``;
    - asyncio: ``open_async_socket`` (an
      :class:`~zeroevents_core.transports.AsyncEventSocket`, the same methods
      awaitable where they wait), ``async_poller(sockets)`` (an
      :class:`~zeroevents_core.transports.AsyncPoller`) and ``await
      close_async_socket``, which must not block the event loop for long.

    The core never looks inside what a socket received: the socket decodes it
    (most with :class:`~zeroevents_core.transports.codec.EventCodec`), answers it,
    forwards dead letters, and maps its backend's errors to the
    :class:`~zeroevents_core.errors.TransportError` subclasses.
    """


@hookspec
def register_observers(register: Callable[[Observer], Any]) -> None:
    """Register observers: objects told when a socket opens or a service starts.

    Called once, the first time a listener's socket opens or a service starts,
    with a ``register`` callback. Call ``register(observer)`` for each object; an
    observer has any of the optional methods of
    :class:`~zeroevents_core.observers.Observer`:

    - ``opened(observed)``: a listener's socket opened (``observed.role`` is
      ``"listener"``) or a service started (``"service"``);
    - ``closed(observed)``: that socket closed, that service stopped;
    - ``sending(observed)``: asked once as a listener's socket opens; None, or a
      callable ``(event, headers)`` giving a context manager entered around each
      send of that socket, whose value is the headers to send (the fire's, or
      more: a tracer's ``traceparent``), or None for a send it has nothing to do
      with (sent unwrapped, with the fire's headers);
    - ``processing(observed)``: asked once as a service starts; None, or a callable
      ``(message)`` giving a context manager entered around each fire of a
      received message (a tracer's consumer span), or None (fired unwrapped).

    ``observed`` (an :class:`~zeroevents_core.observers.Observed`) carries the live
    :class:`~zeroevents_core.stats.Stats`, the role, the transport's name, the
    endpoints (``where``) and a name. Counters are never pushed to observers:
    read them when needed (an exporter at scrape time), so that the events pay
    nothing for them; only the sockets and services given a ``sending`` or
    ``processing`` wrapper pay for it, per event (contrib/zeroevents-otel), and
    one call when the wrapper gives None: an idle tracer costs no ``with``.
    Called in the thread that opens or closes; an observer that raises is logged
    and skipped (its wrappers too). Returns nothing.
    """


@hookspec
def add_cli_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    """Add flags to a command of the ``zeroevents`` command line.

    Called when the command line is built, once per command that loads plugins
    (``command`` is ``"listen"`` or ``"emit"``), with that command's argparse
    parser: call ``parser.add_argument(...)`` with flags named after the plugin's
    concern (``--metrics-port``) and a default, so that the command runs as
    before without them. Returns nothing.
    """


@hookspec
def configure_cli(command: str, args: argparse.Namespace) -> Callable[[], Any] | None:
    """Act on the flags of :func:`add_cli_arguments` before a command runs.

    Called once, after the arguments are parsed and before ``command`` runs, with
    every parsed argument. Start what the flags ask for (a metrics server) and
    return a callable that undoes it, called when the command ends however it
    ends, or None. A :class:`~zeroevents_core.ZeroEventsError` raised here is
    the command's error (exit status 1).
    """
